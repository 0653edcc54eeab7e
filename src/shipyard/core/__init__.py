"""The spine every room stands on: settings, errors, names, the metadata DB and artifacts."""
