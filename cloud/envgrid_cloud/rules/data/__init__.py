"""Rule data shipped with envgrid: rule packs per site category and AQI tables."""
