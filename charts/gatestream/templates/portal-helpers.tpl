{{/*
Helpers of the portal templates (portal-*.yaml). This file renders nothing.
*/}}

{{- define "gatestream.portal.fullname" -}}
{{- printf "%s-portal" (include "gatestream.fullname" .) }}
{{- end }}

{{- define "gatestream.portal.signoutConfigMap" -}}
{{- printf "%s-signouts" (include "gatestream.portal.fullname" .) }}
{{- end }}

{{- define "gatestream.portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatestream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: portal
{{- end }}

{{- define "gatestream.portal.labels" -}}
helm.sh/chart: {{ include "gatestream.chart" . }}
{{ include "gatestream.portal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatestream
{{- end }}

{{- define "gatestream.portal.serviceAccountName" -}}
{{- if .Values.portal.serviceAccount.create }}
{{- default (include "gatestream.portal.fullname" .) .Values.portal.serviceAccount.name }}
{{- else }}
{{- required "portal.serviceAccount.name is required when portal.serviceAccount.create is false" .Values.portal.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatestream.portal.cookieSecret" -}}
{{- default (printf "%s-cookie" (include "gatestream.portal.fullname" .)) .Values.portal.cookie.existingSecret }}
{{- end }}
