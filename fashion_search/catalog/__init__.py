"""The catalog: both public layouts read into Product records, captions, splits, which catalog a bare
`make` uses (datasets), and a procedurally drawn synthetic catalog of any size (synthetic/)."""
