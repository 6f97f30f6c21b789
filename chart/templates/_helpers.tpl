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

{{/* Environment shared by every container: the ConfigMap, and secrets unless Vault holds them. */}}
{{- define "coffeebuddy.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "coffeebuddy.fullname" . }}
{{- if not .Values.vault.enabled }}
env:
  - name: SLACK_SIGNING_SECRET
    valueFrom:
      secretKeyRef: { name: {{ .Values.existingSecret }}, key: slack-signing-secret }
  - name: SLACK_BOT_TOKEN
    valueFrom:
      secretKeyRef: { name: {{ .Values.existingSecret }}, key: slack-bot-token }
  - name: DATABASE_URL
    valueFrom:
      secretKeyRef: { name: {{ .Values.existingSecret }}, key: database-url, optional: true }
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

{{/* Pod volumes: the database CA bundle, from a Secret or a ConfigMap, with database.tls.enabled. */}}
{{- define "coffeebuddy.volumes" -}}
{{- with .Values.database.tls }}
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
volumes:
  - name: database-ca
    {{- if .caSecret }}
    secret:
      secretName: {{ .caSecret }}
      items:
        - { key: {{ .caKey | quote }}, path: {{ .caKey | quote }} }
    {{- else }}
    configMap:
      name: {{ .caConfigMap }}
      items:
        - { key: {{ .caKey | quote }}, path: {{ .caKey | quote }} }
    {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Container volume mounts matching coffeebuddy.volumes. */}}
{{- define "coffeebuddy.volumeMounts" -}}
{{- if .Values.database.tls.enabled }}
volumeMounts:
  - { name: database-ca, mountPath: {{ .Values.database.tls.mountPath | quote }}, readOnly: true }
{{- end }}
{{- end -}}
