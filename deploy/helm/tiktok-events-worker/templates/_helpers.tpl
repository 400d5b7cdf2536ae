{{/* The release's name for every object, at most 63 characters. */}}
{{- define "tew.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tew.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tew.labels" -}}
{{ include "tew.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
The number of worker replicas that can exist: KEDA's maxReplicaCount when KEDA scales
the Deployment, else replicaCount. It becomes delivery.worker_replicas, from which the
worker derives each consumer's max_ack_pending, so the allowance is sized for every
replica that can run (SPEC §5).
*/}}
{{- define "tew.workerReplicas" -}}
{{- if .Values.keda.enabled -}}
{{- if lt (int .Values.keda.maxReplicaCount) (int .Values.keda.minReplicaCount) -}}
{{- fail (printf "keda.maxReplicaCount (%v) is below keda.minReplicaCount (%v)" .Values.keda.maxReplicaCount .Values.keda.minReplicaCount) -}}
{{- end -}}
{{- int .Values.keda.maxReplicaCount -}}
{{- else -}}
{{- int .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* The rows stream's name, derived from the subject prefix as broker.NamesFor does. */}}
{{- define "tew.rowsStream" -}}
{{- printf "%s_ROWS" (regexReplaceAll "[^A-Z0-9_-]" (upper .Values.nats.subjectPrefix) "_") -}}
{{- end -}}

{{- define "tew.tokenPath" -}}/var/run/secrets/tiktok/{{ .Values.tiktok.accessToken.key }}{{- end -}}
{{- define "tew.natsCredsPath" -}}/var/run/secrets/nats/{{ .Values.nats.credentials.key }}{{- end -}}
{{- define "tew.natsNKeyPath" -}}/var/run/secrets/nats/{{ .Values.nats.nkey.key }}{{- end -}}

{{/*
The worker's config.yaml: .Values.config with the keys the chart owns filled in. A key
the chart owns that is also in .Values.config fails the render, so there is one place
for each setting.
*/}}
{{- define "tew.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $owned := dict "nats" (list "url" "creds_file" "nkey_file" "replicas" "subject_prefix") "tiktok" (list "api_base" "access_token_file" "access_token_env" "access_token") "delivery" (list "worker_replicas" "drain_timeout") "http" (list "listen") -}}
{{- range $section, $keys := $owned -}}
{{- $have := get $cfg $section | default dict -}}
{{- range $k := $keys -}}
{{- if hasKey $have $k -}}
{{- fail (printf "config.%s.%s is set by the chart from its own values (see values.yaml): remove it from config" $section $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.nats.credentials.secretName .Values.nats.nkey.secretName -}}
{{- fail "nats.credentials.secretName and nats.nkey.secretName are both set: choose one way to authenticate to NATS" -}}
{{- end -}}
{{- $nats := get $cfg "nats" | default dict -}}
{{- $_ := set $nats "url" (join "," .Values.nats.urls) -}}
{{- $_ := set $nats "replicas" (int .Values.nats.replicas) -}}
{{- $_ := set $nats "subject_prefix" .Values.nats.subjectPrefix -}}
{{- if .Values.nats.credentials.secretName -}}
{{- $_ := set $nats "creds_file" (include "tew.natsCredsPath" .) -}}
{{- end -}}
{{- if .Values.nats.nkey.secretName -}}
{{- $_ := set $nats "nkey_file" (include "tew.natsNKeyPath" .) -}}
{{- end -}}
{{- $_ := set $cfg "nats" $nats -}}
{{- $tiktok := get $cfg "tiktok" | default dict -}}
{{- $_ := set $tiktok "api_base" .Values.tiktok.apiBase -}}
{{- $_ := set $tiktok "access_token_file" (include "tew.tokenPath" .) -}}
{{- $_ := set $cfg "tiktok" $tiktok -}}
{{- $delivery := get $cfg "delivery" | default dict -}}
{{- $_ := set $delivery "worker_replicas" (include "tew.workerReplicas" . | int) -}}
{{- $_ := set $delivery "drain_timeout" (printf "%ds" (int .Values.drainTimeoutSeconds)) -}}
{{- $_ := set $cfg "delivery" $delivery -}}
{{- $http := get $cfg "http" | default dict -}}
{{- $_ := set $http "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- $_ := set $cfg "http" $http -}}
{{- toYaml $cfg -}}
{{- end -}}
