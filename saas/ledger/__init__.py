"""Electronic ledgers: registries, passage ingestion with a hash chain, verification, exports."""
