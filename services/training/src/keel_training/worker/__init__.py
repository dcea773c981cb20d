"""The training worker: the Celery app both sides share (``celery_app``: the API sends, workers
run), one run of a job (``job_run``), and the worker process (``process``)."""
