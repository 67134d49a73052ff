"""The three parts on one machine: `warmserve stack` and `warmserve mlflow`.

Process management only: each part is a separate command (an MLflow server,
`warmserve serve`, `warmserve trainer`) started with flags and environment.
"""
