"""Regulator upload: adapters per platform, signers, the upload outbox relay, report rates and
a reference receiver (docs/regulator.md, docs/regulator-adapters.md). Import the modules; this
package itself imports nothing."""
