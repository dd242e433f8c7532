"""The camera agent: smoke and flame found on a CPU, reported once per incident with evidence."""
