{{/* Every setting of the service as KEY: "value" lines (README "Configuration"). */}}
{{- define "coffeebuddy.settings" -}}
{{- include "coffeebuddy.kafkaCheck" . }}
{{- with .Values.config }}
DATABASE_URL: {{ include "coffeebuddy.databaseUrl" $ | quote }}
DB_MAX_CONNECTIONS: {{ .dbMaxConnections | quote }}
DB_MIN_CONNECTIONS: {{ .dbMinConnections | quote }}
DB_ACQUIRE_TIMEOUT_SECS: {{ .dbAcquireTimeoutSecs | quote }}
MAX_REQUESTS_IN_FLIGHT: {{ .maxRequestsInFlight | quote }}
HTTP_HEADER_TIMEOUT_SECS: {{ .httpHeaderTimeoutSecs | quote }}
HTTP_BODY_TIMEOUT_SECS: {{ .httpBodyTimeoutSecs | quote }}
HTTP_IDLE_TIMEOUT_SECS: {{ .httpIdleTimeoutSecs | quote }}
BIND_ADDR: "0.0.0.0:8080"
SLACK_API_URL: {{ .slackApiUrl | quote }}
SLACK_RATE_LIMIT_PER_MIN: {{ .slackRateLimitPerMin | quote }}
{{- with .kafkaBrokers }}
KAFKA_BROKERS: {{ . | quote }}
{{- end }}
KAFKA_CREATE_TOPICS: {{ .kafkaCreateTopics | quote }}
{{- with .kafkaSecurityProtocol }}
KAFKA_SECURITY_PROTOCOL: {{ . | quote }}
{{- end }}
{{- with .kafkaSaslMechanism }}
KAFKA_SASL_MECHANISM: {{ . | quote }}
{{- end }}
{{- with .oidcIssuer }}
OIDC_ISSUER: {{ . | quote }}
{{- end }}
{{- with .oidcJwksUrl }}
OIDC_JWKS_URL: {{ . | quote }}
{{- end }}
OIDC_AUDIENCE: {{ .oidcAudience | quote }}
OIDC_WORKSPACE_CLAIM: {{ .oidcWorkspaceClaim | quote }}
ASSIGN_WINDOW_SECS: {{ .assignWindowSecs | quote }}
ASSIGN_MAX_ORDERS: {{ .assignMaxOrders | quote }}
REMINDER_DELAY_SECS: {{ .reminderDelaySecs | quote }}
FAIRNESS_WINDOW_DAYS: {{ .fairnessWindowDays | quote }}
ACTIVE_WINDOW_DAYS: {{ .activeWindowDays | quote }}
AUDIT_RETENTION_DAYS: {{ .auditRetentionDays | quote }}
FAIRNESS_POLICY: {{ .fairnessPolicy | quote }}
RUNNER_AVAILABILITY_CHECK: {{ .runnerAvailabilityCheck | quote }}
RUNNER_AWAY_STATUSES: {{ .runnerAwayStatuses | quote }}
RUNNER_AVAILABILITY_BUDGET_MS: {{ .runnerAvailabilityBudgetMs | quote }}
PRUNE_AUDIT_SCHEDULE: {{ .pruneAuditSchedule | quote }}
CIRCUIT_FAILURE_THRESHOLD: {{ .circuitFailureThreshold | quote }}
CIRCUIT_OPEN_SECS: {{ .circuitOpenSecs | quote }}
LOG_FORMAT: {{ .logFormat | quote }}
{{- end }}
{{- with .Values.proxy }}
{{- with .httpsProxy }}
HTTPS_PROXY: {{ . | quote }}
{{- end }}
{{- with .httpProxy }}
HTTP_PROXY: {{ . | quote }}
{{- end }}
{{- with .noProxy }}
NO_PROXY: {{ . | quote }}
{{- end }}
{{- end }}
MIGRATE_ON_START: {{ (not .Values.migrations.enabled) | quote }}
{{- if .Values.vault.enabled }}
VAULT_ADDR: {{ .Values.vault.addr | quote }}
VAULT_ROLE: {{ .Values.vault.role | quote }}
VAULT_AUTH_MOUNT: {{ .Values.vault.authMount | quote }}
VAULT_KV_MOUNT: {{ .Values.vault.kvMount | quote }}
VAULT_K8S_TOKEN_PATH: /var/run/secrets/kubernetes.io/serviceaccount/token
{{- end }}
{{- end -}}
