"""CleanGate cloud platform. Import-free: the app factory is ``saas.app.create_app``."""
