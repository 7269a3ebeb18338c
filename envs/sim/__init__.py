"""The SimPy data-pipeline simulator: no gymnasium, SB3, Hydra or MLflow here."""
