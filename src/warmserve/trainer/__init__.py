"""The trainer service (`warmserve trainer`): new data in, a gated new version out.

inbox (which files are complete) -> intake (validate, store by content hash, queue)
-> service (coalesce, run) -> run (fit, register, gate, promote, notify); the journal
keeps it crash-safe and app serves POST /data and the jobs. See docs/trainer.md.
"""
