"""Help and docs that do not stop short (issue 15, part 5; decisions.md H1).

Every command and option has help; an option that stands for a setting names its
environment variable and its default, both taken from orchestration/settings.py;
the README's settings table names every variable the pipeline reads, with the
default settings.py gives it; and the README's links stay inside the repository.
"""

import dataclasses
import re

import click
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.settings import Settings, describe_default, setting_defaults
from tests.conftest import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
VARIABLE = re.compile(r"""["'](FOSTERING_[A-Z][A-Z0-9_]*[A-Z0-9])["']""")  # a variable's name as a string in code
# Read by the pipeline, but not settings for a user: the pipeline sets the first two for dbt,
# the tests set the others (orchestration/publish/writer.py).
INTERNAL = {
    "FOSTERING_DBT_BUILT_MONTHS", "FOSTERING_DBT_STAGED_MONTHS",
    "FOSTERING_PUBLISH_PAUSE_AFTER_FILES", "FOSTERING_PUBLISH_PAUSE_SECONDS",
}


def _variables_read() -> dict[str, list[str]]:
    """Every FOSTERING_* variable named as a string in the package or the dbt project, with where."""
    files = [*sorted((PROJECT_ROOT / "orchestration").rglob("*.py"))]
    files += [p for ext in ("*.sql", "*.yml") for p in sorted((PROJECT_ROOT / "dbt_project").rglob(ext)) if "target" not in p.parts]
    found: dict[str, list[str]] = {}
    for path in files:
        for name in VARIABLE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(PROJECT_ROOT)))
    return found


def _settings_table() -> dict[str, str]:
    """The README's settings table: each variable named in a row's first cell, with that row."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `FOSTERING_"):
            first = line.split("|")[1]
            for name in re.findall(r"`(FOSTERING_[A-Z0-9_]+)`", first):
                rows[name] = line
    return rows


def test_the_readme_names_every_setting_with_its_default_and_meaning():
    read = _variables_read()
    in_settings = set(VARIABLE.findall((PROJECT_ROOT / "orchestration" / "settings.py").read_text(encoding="utf-8")))
    assert set(setting_defaults()) <= in_settings and "FOSTERING_SWING_MIN_CHANGE" in in_settings
    assert in_settings <= set(read)
    table = _settings_table()
    missing = {name: where for name, where in read.items() if name not in table and name not in INTERNAL}
    assert not missing, f"settings missing from the README's settings table: {missing}"
    assert not INTERNAL & set(table), "internal variables are not settings a user sets"
    for name, default in setting_defaults().items():
        shown = describe_default(name, relative=True, derived=False)
        assert f"`{shown}`" in table[name], f"the README gives {name} another default than settings.py ({shown})"
    for name, row in table.items():
        meaning = row.split("|")[2].strip()
        assert meaning and len(meaning.split()) >= 3, f"{name}: the README gives no meaning"
    # the internal ones are said to be internal, in one place
    text = README.read_text(encoding="utf-8")
    assert "`FOSTERING_DBT_BUILT_MONTHS` and `FOSTERING_DBT_STAGED_MONTHS` are not settings" in text


def _commands():
    return sorted(main.commands.items())


def test_every_command_and_every_option_has_help():
    assert main.help and all(p.help for p in main.params if isinstance(p, click.Option))
    for name, command in _commands():
        assert command.help and command.help.strip(), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help and param.help.strip(), f"fostering {name} {param.opts[0]} has no help"
            else:  # an argument has no help of its own: the command's help says what it is ("Each PATH is" for PATHS...)
                what = param.human_readable_name if param.nargs == 1 else param.human_readable_name.removesuffix("S")
                assert what in command.help, f"fostering {name}: its help never says what {what} is"


def test_an_option_with_a_setting_behind_it_names_the_variable_and_its_default():
    fields = {f.name for f in dataclasses.fields(Settings)}
    defaults = setting_defaults()
    seen = set()
    for name, command in _commands():
        for option in (p for p in command.params if isinstance(p, click.Option)):
            if option.name not in fields:
                assert "FOSTERING_" not in (option.help or "") or "env var" not in option.help
                continue
            variable = f"FOSTERING_{option.name.upper()}"
            assert variable in defaults, f"fostering {name} {option.opts[0]}: no variable {variable} in settings.py"
            assert f"[env var: {variable}; default: {describe_default(variable)}]" in option.help, (name, option.help)
            seen.add(option.opts[0])
    assert seen == {"--landing", "--warehouse", "--publish-dir"}
    text = CliRunner().invoke(main, ["run", "--help"]).output
    assert "FOSTERING_LANDING" in text and str(PROJECT_ROOT / "raw" / "sample") in text
    assert "FOSTERING_DATA_DIR if that is set" in text


def test_the_top_level_help_gives_each_command_a_whole_sentence():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listing = result.output.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    lines = {}
    for line in listing.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            name, _, text = line.strip().partition(" ")
            lines[name] = text.strip()
        else:  # a wrapped line
            lines[name] += " " + line.strip()
    assert set(lines) == set(main.commands)
    for name, text in lines.items():
        assert text.endswith(".") and not text.endswith("...") and text[0].isupper(), f"{name}: {text!r}"


@pytest.mark.parametrize("args", [["run", "--help"], ["validate", "--help"]])
def test_help_works_whatever_the_settings(args):
    result = CliRunner().invoke(main, args, env={"FOSTERING_SWING_MIN_CHANGE": "lots", "FOSTERING_WAREHOUSE": "/elsewhere/w.duckdb"})
    assert result.exit_code == 0, result.output
    assert "/elsewhere" not in result.output  # the defaults shown are settings.py's, not the environment's


def test_validate_help_lists_the_forms_a_return_takes():
    text = CliRunner().invoke(main, ["validate", "--help"]).output
    for form in ("an Excel workbook (.xlsx or .xlsm)", "a ZIP file (.zip) of CSV files", "a folder of CSV files"):
        assert form in text, form
    assert "--format [text|json]  text:" in text and "json: a list with one object per return" in text


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md", "docs/spec/README.md"])
def test_links_stay_inside_the_repository(document):
    path = PROJECT_ROOT / document
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{document} points outside the repository"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (path.parent / target).exists(), f"{document} links to {target}, which is not in the repository"
    for spec in ("marts-v1.md", "marts-v2.md", "monthly-return-v1.md", "design.md"):
        assert (PROJECT_ROOT / "docs" / "spec" / spec).is_file()
