{{/* Names and labels shared by the chart's templates. */}}
{{- define "ferry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferry.labels" -}}
{{ include "ferry.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
ferry.dev/domain: {{ .Values.domain }}
{{- end -}}

{{- define "ferry.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-ca" (include "ferry.fullname" .)) -}}
{{- end -}}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Non-root, read-only root filesystem, nothing more than needed. Both
containers run as one user: Envoy and the node share Unix sockets (mode 0600). */}}
{{- define "ferry.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "ferry.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Cross-field rules the schema cannot word well. */}}
{{- define "ferry.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (ne .Values.store.type "etcd") -}}
{{- fail (printf "replicas: %d needs store.type etcd (the embedded store lives in one pod): set replicas: 1, or store.type: etcd with store.etcd.endpoints" (int .Values.replicas)) -}}
{{- end -}}
{{- if and (eq .Values.store.type "etcd") (not .Values.store.etcd.endpoints) -}}
{{- fail "store.etcd.endpoints: store.type etcd needs the etcd members, e.g. [etcd-0.etcd:2379]" -}}
{{- end -}}
{{- if and (eq .Values.store.type "etcd") (not .Values.store.etcd.keySecret.name) -}}
{{- fail "store.etcd.keySecret.name: store.type etcd needs a Secret with the key that encrypts secrets in etcd (kubectl create secret generic NAME --from-file=store.key)" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (eq .Values.store.type "etcd") -}}
{{- fail "persistence.enabled: the etcd store keeps nothing in the pod; set persistence.enabled: false" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.env" -}}
- name: FERRY_HOME
  value: /var/lib/ferry
- name: FERRY_DOMAIN
  value: {{ .Values.domain | quote }}
- name: FERRY_LOG_LEVEL
  value: {{ .Values.node.logLevel | quote }}
{{- end -}}

{{/* The names KusciaAPI's server certificate carries beyond its own: the internal Service's, and kusciaApi.sans. */}}
{{- define "ferry.kusciaApiSans" -}}
{{- $svc := printf "%s-internal" (include "ferry.fullname" .) -}}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) -}}
{{- join "," (concat $names .Values.kusciaApi.sans) -}}
{{- end -}}
