"""The bridge's TheHive side: configuration, the thehive4py sender, and assembly of the pipeline."""
