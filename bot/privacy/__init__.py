"""The client's rights and the data's lifetime: export and erasure, renewed consent,
retention, encryption keys."""
