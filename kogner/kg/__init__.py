"""The knowledge graph: canonical Parquet schema, source adapters, entity resolution."""
