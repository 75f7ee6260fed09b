"""FASTQ bytes <-> records, keeping every byte-level layout fact."""
