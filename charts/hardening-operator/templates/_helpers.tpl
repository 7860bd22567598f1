{{/* The chart name, or nameOverride. */}}
{{- define "hardening-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: `<release>-<chart>`, or the release name when
it already contains the chart name, or fullnameOverride. At most 63 characters. */}}
{{- define "hardening-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hardening-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "hardening-operator.commonLabels" -}}
helm.sh/chart: {{ include "hardening-operator.chart" . }}
app.kubernetes.io/name: {{ include "hardening-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "hardening-operator.labels" -}}
{{ include "hardening-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels that select the operator's Pods. */}}
{{- define "hardening-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hardening-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels of the node agent's objects. */}}
{{- define "hardening-operator.nodeAgentLabels" -}}
{{ include "hardening-operator.commonLabels" . }}
app.kubernetes.io/component: node-agent
{{- end }}

{{/* Labels that select the node agent's Pods. */}}
{{- define "hardening-operator.nodeAgentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "hardening-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end }}

{{- define "hardening-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hardening-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* KUBERNETES_SERVICE_HOST/PORT from apiServer, for Pods that cannot use the `kubernetes`
Service (use only when apiServer.host is set). */}}
{{- define "hardening-operator.apiServerEnv" -}}
- name: KUBERNETES_SERVICE_HOST
  value: {{ .Values.apiServer.host | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ .Values.apiServer.port | quote }}
{{- end }}

{{/* `repository:tag` or `repository@digest`. */}}
{{- define "hardening-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The node agent's image: nodeAgent.image when its repository or tag is set (an empty
repository is image.repository, an empty tag the appVersion), else the operator's image. */}}
{{- define "hardening-operator.nodeAgentImage" -}}
{{- $agent := .Values.nodeAgent.image }}
{{- if or $agent.repository $agent.tag }}
{{- printf "%s:%s" (default .Values.image.repository $agent.repository) (default .Chart.AppVersion $agent.tag) }}
{{- else }}
{{- include "hardening-operator.image" . }}
{{- end }}
{{- end }}

{{/* What the chart adds to the metadata of its CRDs: the release's labels and, with
`crds.keep`, the annotation that makes `helm uninstall` leave the CRD (and so every
HardeningProfile) in place. */}}
{{- define "hardening-operator.crdMetadata" -}}
{{- if .Values.crds.keep }}
  annotations:
    helm.sh/resource-policy: keep
{{- end }}
  labels:
    {{- include "hardening-operator.commonLabels" . | nindent 4 }}
{{- end }}
