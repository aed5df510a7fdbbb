"""Reports: plots and tables of interaction estimates and model comparisons."""
