"""Operations: health, Prometheus, maintenance, provisioning and data migration."""
