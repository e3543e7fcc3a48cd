"""
The writer engine: small parts, each with one job, its own state and lock.

::

    ObjectStoreWriter (objlog.writer)     validates, wires the parts, write/flush/sync/close/stats
     │
     ├── BatchBuffer      (buffer.py)     the current batch: write() fast path, inbox, seal
     │    ├── FlushPolicy (policy.py)     when to seal: size, age, a record alone
     │    └── AgeTimer    (policy.py)     seals by age with no further write
     ├── MemoryBudget     (budget.py)     max_buffer_bytes: charge, release, wait for room
     ├── UploadPipeline   (pipeline.py)   queue -> encoder -> uploader (retries) | spool stage
     │    └── SealedBatch (batch.py)      UploadState, SpoolState; RecordBuffer (records.py)
     └── Counters, Reporter (stats.py)    WriterStats; last error, on_error, stderr

The path of a record: ``write`` copies it into the current batch's
`RecordBuffer`; `FlushPolicy` seals the batch (size, age via `AgeTimer`,
``flush``/``sync``/``close``), which gets its key (`objlog._layout`) and goes
to `UploadPipeline.submit`, charging the `MemoryBudget`; the encoder thread
compresses and hashes it (`objlog._codec`), the uploader PUTs it with
retries (`objlog.retry`) or, with a spool, the spool stage writes it to disk
first (`objlog._spool`); once stored or spooled its memory is released.

Lock order (outermost first); a part never calls a part above it while it
holds its lock, and no lock is held across store or spool I/O::

    BatchBuffer._lock -> AgeTimer._cond
                      -> UploadPipeline._cond -> MemoryBudget._cond -> Counters._lock

The engine imports no ``logging``, no store SDK, no `objlog.config` and no
`objlog.stores`: the store comes in as an `ObjectStore` (and a factory to
re-open it after fork).
"""
