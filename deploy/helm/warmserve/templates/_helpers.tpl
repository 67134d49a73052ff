{{/* Names, labels and the values several templates derive. */}}

{{- define "warmserve.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", e.g. warmserve-api. Call with (list $ "api"). */}}
{{- define "warmserve.name" -}}
{{- printf "%s-%s" (include "warmserve.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{- define "warmserve.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "warmserve.labels" -}}
{{ include "warmserve.selectorLabels" . }}
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{- define "warmserve.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "warmserve.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "warmserve.fullname" .) -}}
{{- end -}}

{{- define "warmserve.mlflowUrl" -}}
{{- printf "http://%s:%v" (include "warmserve.name" (list . "mlflow")) .Values.mlflow.port -}}
{{- end -}}

{{- define "warmserve.cacheUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:6379/0" (include "warmserve.name" (list . "redis")) -}}
{{- else -}}
{{- required "redis.url is required when redis.enabled is false" .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* The pod-level security context, with the defaults of values.yaml. */}}
{{- define "warmserve.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* The writable emptyDirs of a warmserve container (read-only root filesystem). */}}
{{- define "warmserve.writableVolumes" -}}
- name: tmp
  emptyDir: {}
- name: home
  emptyDir: {}
{{- end -}}

{{- define "warmserve.writableMounts" -}}
- name: tmp
  mountPath: {{ .Values.writablePaths.tmp }}
- name: home
  mountPath: {{ .Values.writablePaths.home }}
{{- end -}}

{{/* Environment every warmserve container shares: where to write, and the registry. */}}
{{- define "warmserve.commonEnv" -}}
- name: TMPDIR
  value: {{ .Values.writablePaths.tmp | quote }}
- name: HOME
  value: {{ .Values.writablePaths.home | quote }}
- name: WARMSERVE_TRACKING_URI
  value: {{ include "warmserve.mlflowUrl" . | quote }}
- name: WARMSERVE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "warmserve.secretName" . }}
      key: admin-token
{{- end -}}

{{/* Seconds Kubernetes waits before SIGKILL: the preStop pause, then the server's two
bounded waits (HTTP workers, then the model process: shutdown_grace + 5 s each). */}}
{{- define "warmserve.api.terminationGrace" -}}
{{- add (int .Values.api.preStopSeconds) (mul 2 (add (int .Values.api.shutdownGrace) 5)) -}}
{{- end -}}
