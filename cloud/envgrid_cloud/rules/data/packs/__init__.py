"""Rule packs, one YAML file per site category (envgrid_cloud.rules.packs loads them)."""
