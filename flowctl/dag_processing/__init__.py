"""DAG processing: DAG folder -> DAG objects, import errors and JSON serialization.

``discovery`` picks the files, ``loader`` imports one file in the current
process, ``forkserver`` and ``processor`` parse many files in isolated child
processes (the scheduler's safe path), ``serialization`` turns DAGs into JSON
and back, ``dagbag`` is the Airflow-compatible in-process ``DagBag``.
Must not import db, web, cli or scheduler.
"""
