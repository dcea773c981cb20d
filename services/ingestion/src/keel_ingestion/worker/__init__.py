"""The build workers: Celery tasks that run one build stage each."""
