"""Publishing the marts: disclosure control (`disclosure`) and atomic, versioned publishes (`writer`)."""
