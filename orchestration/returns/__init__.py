"""Handling one LA's monthly return: contract, readers, validation, pseudonymisation."""
