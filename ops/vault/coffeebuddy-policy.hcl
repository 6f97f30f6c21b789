# Vault policy "coffeebuddy": read-only access to CoffeeBuddy's KV v2 secrets.
#
# The service logs in with the Kubernetes auth method (VAULT_AUTH_MOUNT=kubernetes,
# VAULT_ROLE=coffeebuddy) using its service account token, then reads
# secret/coffeebuddy/slack and secret/coffeebuddy/db (VAULT_KV_MOUNT=secret) every 5 minutes,
# and secret/coffeebuddy/kafka when Kafka uses SASL (KAFKA_SECURITY_PROTOCOL=sasl_*) and
# KAFKA_SASL_USERNAME is not set.
#
# Setup (once; the kubernetes auth method must already be enabled and configured):
#
#   vault policy write coffeebuddy ops/vault/coffeebuddy-policy.hcl
#
#   # coffeebuddy-migrate runs the chart's pre-install/pre-upgrade migration Job.
#   vault write auth/kubernetes/role/coffeebuddy \
#       bound_service_account_names=coffeebuddy,coffeebuddy-migrate \
#       bound_service_account_namespaces=coffeebuddy \
#       policies=coffeebuddy \
#       ttl=1h
#
# Secrets (KV v2 at mount "secret"; `vault kv put` adds the /data/ segment itself):
#
#   vault kv put secret/coffeebuddy/slack signing_secret=... bot_token=xoxb-...
#   vault kv put secret/coffeebuddy/db username=... password=...
#   vault kv put secret/coffeebuddy/kafka username=... password=...   # with SASL only
#
# Rotation: `vault kv put` a new version; the service picks it up within 5 minutes, no restart
# (new database connections and a new Kafka producer use the new values).

path "secret/data/coffeebuddy/slack" {
  capabilities = ["read"]
}

path "secret/data/coffeebuddy/db" {
  capabilities = ["read"]
}

path "secret/data/coffeebuddy/kafka" {
  capabilities = ["read"]
}
