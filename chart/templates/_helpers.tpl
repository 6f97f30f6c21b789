{{- define "coffeebuddy.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "coffeebuddy.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "coffeebuddy.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "coffeebuddy.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "coffeebuddy.serviceAccountName" -}}
{{ .Values.serviceAccount.name | default (include "coffeebuddy.fullname" .) }}
{{- end -}}

{{/*
A Deployment container's environment: the ConfigMap, and entries the ConfigMap cannot hold.
Secrets, unless Vault holds them; in api pods with slack.socketMode, the app-level token
(required: without it Socket Mode has nothing to connect with). In worker pods, the
mounted Kafka TLS files (coffeebuddy.kafkaTlsEnv). Call it with
(dict "root" $ "component" "api"|"worker").
*/}}
{{- define "coffeebuddy.env" -}}
{{- $root := .root -}}
envFrom:
  - configMapRef:
      name: {{ include "coffeebuddy.fullname" $root }}
{{- with include "coffeebuddy.envList" . | trim }}
env:
  {{- nindent 2 . }}
{{- end }}
{{- end -}}

{{- define "coffeebuddy.envList" -}}
{{- $root := .root -}}
{{- if not $root.Values.vault.enabled }}
- name: SLACK_SIGNING_SECRET
  valueFrom:
    secretKeyRef: { name: {{ $root.Values.existingSecret }}, key: slack-signing-secret }
- name: SLACK_BOT_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ $root.Values.existingSecret }}, key: slack-bot-token }
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ $root.Values.existingSecret }}, key: database-url, optional: true }
{{- if and (eq .component "api") $root.Values.slack.socketMode }}
- name: SLACK_APP_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ $root.Values.existingSecret }}, key: slack-app-token }
{{- end }}
{{- end }}
{{- if eq .component "worker" }}
{{- include "coffeebuddy.kafkaSaslEnv" $root }}
{{- include "coffeebuddy.kafkaTlsEnv" $root }}
{{- end }}
{{- end -}}

{{- define "coffeebuddy.podSpecCommon" -}}
serviceAccountName: {{ include "coffeebuddy.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.vault.enabled }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
The database URL every pod and the migrate Job use: config.databaseUrl, and with
database.tls.enabled `sslmode=verify-full&sslrootcert=<the mounted CA bundle>` appended
(sqlx reads both from the URL). A URL that already names an sslmode or root certificate
fails the render instead of carrying two answers to the same question.
*/}}
{{- define "coffeebuddy.databaseUrl" -}}
{{- $url := .Values.config.databaseUrl -}}
{{- if .Values.database.tls.enabled -}}
{{- if regexMatch "[?&](sslmode|ssl-mode|sslrootcert|ssl-root-cert|ssl-ca)=" $url -}}
{{- fail "config.databaseUrl must not set sslmode or sslrootcert when database.tls.enabled is true: the chart appends sslmode=verify-full&sslrootcert=<database.tls.mountPath>/<database.tls.caKey> itself" -}}
{{- end -}}
{{- printf "%s%ssslmode=verify-full&sslrootcert=%s" $url (ternary "&" "?" (contains "?" $url)) (include "coffeebuddy.databaseCaPath" .) -}}
{{- else -}}
{{- $url -}}
{{- end -}}
{{- end -}}

{{/* Where the database CA bundle is mounted in the pods (database.tls). */}}
{{- define "coffeebuddy.databaseCaPath" -}}
{{ .Values.database.tls.mountPath | trimSuffix "/" }}/{{ .Values.database.tls.caKey }}
{{- end -}}

{{/*
Pod volumes: the database CA bundle (database.tls.enabled) in every pod that talks to the
database, and in worker pods, the only ones whose relay talks to Kafka, Kafka's CA bundle
(kafka.tls.caSecret / caConfigMap) and client certificate (kafka.tls.clientSecret).
Call it with (dict "root" $ "component" "api"|"worker"|"migrate").
*/}}
{{- define "coffeebuddy.volumes" -}}
{{- with include "coffeebuddy.volumeList" . | trim }}
volumes:
  {{- nindent 2 . }}
{{- end }}
{{- end -}}

{{- define "coffeebuddy.volumeList" -}}
{{- with .root.Values.database.tls }}
{{- if .enabled }}
{{- if and .caSecret .caConfigMap }}
{{- fail "database.tls: set caSecret or caConfigMap, not both" }}
{{- end }}
{{- if not (or .caSecret .caConfigMap) }}
{{- fail "database.tls.enabled needs the CA bundle's source: database.tls.caSecret or database.tls.caConfigMap (with its key in database.tls.caKey)" }}
{{- end }}
{{- if not .caKey }}
{{- fail "database.tls.caKey must name the key that holds the CA bundle" }}
{{- end }}
- name: database-ca
  {{- include "coffeebuddy.caVolumeSource" . | nindent 2 }}
{{- end }}
{{- end }}
{{- if eq .component "worker" }}
{{- with .root.Values.kafka.tls }}
{{- if or .caSecret .caConfigMap }}
- name: kafka-ca
  {{- include "coffeebuddy.caVolumeSource" . | nindent 2 }}
{{- end }}
{{- if .clientSecret }}
- name: kafka-client
  secret:
    secretName: {{ .clientSecret }}
    # The key readable by the pod's group (podSecurityContext.fsGroup) only.
    defaultMode: 0440
    items:
      - { key: tls.crt, path: tls.crt }
      - { key: tls.key, path: tls.key }
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A CA bundle's volume source: caSecret or caConfigMap, only its key caKey. */}}
{{- define "coffeebuddy.caVolumeSource" -}}
{{- if .caSecret -}}
secret:
  secretName: {{ .caSecret }}
  items:
    - { key: {{ .caKey | quote }}, path: {{ .caKey | quote }} }
{{- else -}}
configMap:
  name: {{ .caConfigMap }}
  items:
    - { key: {{ .caKey | quote }}, path: {{ .caKey | quote }} }
{{- end -}}
{{- end -}}

{{/* Container volume mounts matching coffeebuddy.volumes (same argument). */}}
{{- define "coffeebuddy.volumeMounts" -}}
{{- $values := .root.Values -}}
{{- $mounts := list -}}
{{- if $values.database.tls.enabled -}}
{{- $mounts = append $mounts (dict "name" "database-ca" "path" $values.database.tls.mountPath) -}}
{{- end -}}
{{- if eq .component "worker" -}}
{{- with $values.kafka.tls -}}
{{- if or .caSecret .caConfigMap -}}
{{- $mounts = append $mounts (dict "name" "kafka-ca" "path" .mountPath) -}}
{{- end -}}
{{- if .clientSecret -}}
{{- $mounts = append $mounts (dict "name" "kafka-client" "path" .clientMountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $mounts }}
volumeMounts:
  {{- range . }}
  - { name: {{ .name }}, mountPath: {{ .path | quote }}, readOnly: true }
  {{- end }}
{{- end }}
{{- end -}}

{{/*
How the relay reaches Kafka: config.kafkaSecurityProtocol and kafkaSaslMechanism, and
kafka.tls's files. Renders nothing; a combination the service would refuse at start
(exit 2, in every pod and in the migrate hook, which would block the upgrade) fails the
render instead.
*/}}
{{- define "coffeebuddy.kafkaCheck" -}}
{{- $protocol := .Values.config.kafkaSecurityProtocol | default "plaintext" -}}
{{- $mechanism := .Values.config.kafkaSaslMechanism | default "" -}}
{{- $protocols := list "plaintext" "ssl" "sasl_plaintext" "sasl_ssl" -}}
{{- if not (has $protocol $protocols) -}}
{{- fail (printf "config.kafkaSecurityProtocol is %q: use one of %s" $protocol (join ", " $protocols)) -}}
{{- end -}}
{{- $sasl := hasPrefix "sasl_" $protocol -}}
{{- $tls := has $protocol (list "ssl" "sasl_ssl") -}}
{{- $mechanisms := list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512" -}}
{{- if and $sasl (not $mechanism) -}}
{{- fail (printf "config.kafkaSecurityProtocol=%s needs config.kafkaSaslMechanism: one of %s" $protocol (join ", " $mechanisms)) -}}
{{- end -}}
{{- if and $mechanism (not $sasl) -}}
{{- fail (printf "config.kafkaSaslMechanism is set but config.kafkaSecurityProtocol=%s uses no SASL: use sasl_ssl (or sasl_plaintext), or leave the mechanism empty" $protocol) -}}
{{- end -}}
{{- if and $mechanism (not (has $mechanism $mechanisms)) -}}
{{- fail (printf "config.kafkaSaslMechanism is %q: use one of %s" $mechanism (join ", " $mechanisms)) -}}
{{- end -}}
{{- with .Values.kafka.tls -}}
{{- $set := list -}}
{{- range $key := list "caSecret" "caConfigMap" "clientSecret" -}}
{{- if get $.Values.kafka.tls $key -}}
{{- $set = append $set (printf "kafka.tls.%s" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $set (not $tls) -}}
{{- fail (printf "%s is set but config.kafkaSecurityProtocol=%s uses no TLS, so the brokers' CA and client certificate would be ignored: set config.kafkaSecurityProtocol to ssl or sasl_ssl, or leave kafka.tls's caSecret, caConfigMap and clientSecret empty" (join " and " $set) $protocol) -}}
{{- end -}}
{{- if and .caSecret .caConfigMap -}}
{{- fail "kafka.tls: set caSecret or caConfigMap, not both" -}}
{{- end -}}
{{- if and (or .caSecret .caConfigMap) (not .caKey) -}}
{{- fail "kafka.tls.caKey must name the key that holds the CA bundle" -}}
{{- end -}}
{{- if and (or .caSecret .caConfigMap) (not .mountPath) -}}
{{- fail "kafka.tls.mountPath must name where the CA bundle is mounted" -}}
{{- end -}}
{{- if and .clientSecret (not .clientMountPath) -}}
{{- fail "kafka.tls.clientMountPath must name where the client certificate is mounted" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Worker pods' env for kafka.tls's mounted files (not in the ConfigMap: the service checks at
start that each named file can be read, and only worker pods mount them).
*/}}
{{- define "coffeebuddy.kafkaTlsEnv" -}}
{{- with .Values.kafka.tls }}
{{- if or .caSecret .caConfigMap }}
- { name: KAFKA_SSL_CA_LOCATION, value: {{ printf "%s/%s" (.mountPath | trimSuffix "/") .caKey | quote }} }
{{- end }}
{{- if .clientSecret }}
- { name: KAFKA_SSL_CERTIFICATE_LOCATION, value: {{ printf "%s/tls.crt" (.clientMountPath | trimSuffix "/") | quote }} }
- { name: KAFKA_SSL_KEY_LOCATION, value: {{ printf "%s/tls.key" (.clientMountPath | trimSuffix "/") | quote }} }
{{- end }}
{{- end }}
{{- end -}}

{{/*
Kafka's SASL credentials from existingSecret (keys kafka-sasl-username and
kafka-sasl-password, optional: without them the service exits naming KAFKA_SASL_USERNAME),
with a sasl_* protocol and vault.enabled false; with Vault the service reads
coffeebuddy/kafka itself. Given to the worker pods only: only they run the relay, and only
a process that runs it checks Kafka's settings (Settings::kafka_security).
*/}}
{{- define "coffeebuddy.kafkaSaslEnv" -}}
{{- if and (hasPrefix "sasl_" (.Values.config.kafkaSecurityProtocol | default "")) (not .Values.vault.enabled) }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ .Values.existingSecret }}, key: kafka-sasl-username, optional: true }
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .Values.existingSecret }}, key: kafka-sasl-password, optional: true }
{{- end }}
{{- end -}}
