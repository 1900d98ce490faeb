"""The playbook runner's side of TheHive and Cortex (services) and the watch service."""
