"""Pure rules: tables in, tables out, the run date passed in.

Nothing in this package touches the network, the clock or a vendor SDK; connectors/ and
cs_sync/pipeline.py do the I/O around it.
"""
