"""The palsy-tfx pipeline definition, runners and command line."""
