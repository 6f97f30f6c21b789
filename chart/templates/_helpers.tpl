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
