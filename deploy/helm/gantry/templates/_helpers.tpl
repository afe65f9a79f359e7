{{/* The name prefix of every object: the release name (gantry-api, gantry-release-worker, … for a release named gantry). */}}
{{- define "gantry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gantry.labels" -}}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* image.repository has no default: Gantry publishes no image. */}}
{{- define "gantry.repository" -}}
{{- required "image.repository is required: Gantry publishes no image. Build it (README \"Gantry's image\"), push it to your registry and set it, e.g. --set image.repository=registry.example.com/gantry" .Values.image.repository -}}
{{- end -}}

{{- define "gantry.image" -}}
{{- $repo := include "gantry.repository" . -}}
{{- if .Values.image.digest -}}{{ $repo }}@{{ .Values.image.digest }}{{- else -}}{{ $repo }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{- define "gantry.buildWorkerImage" -}}
{{- $repo := .Values.buildWorker.image.repository | default (include "gantry.repository" .) -}}
{{- if .Values.buildWorker.image.digest -}}{{ $repo }}@{{ .Values.buildWorker.image.digest }}
{{- else -}}{{ $repo }}:{{ .Values.buildWorker.image.tag | default (printf "%s-build-worker" (.Values.image.tag | default .Chart.AppVersion | toString)) }}{{- end -}}
{{- end -}}

{{- define "gantry.secretName" -}}
{{- .name | default (printf "%s-%s" (include "gantry.fullname" .root) .suffix) -}}
{{- end -}}

{{/* The same pod and container security settings for every Gantry process (PSS `restricted`). */}}
{{- define "gantry.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "gantry.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: [ALL] }
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{/* Probes on a named port: /healthz for startup and liveness, /readyz for readiness. */}}
{{- define "gantry.probes" -}}
startupProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: {{ . }} }
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* envFrom shared by every process: the settings, and the optional Temporal Secret. */}}
{{- define "gantry.envFrom" -}}
- configMapRef: { name: {{ include "gantry.fullname" . }}-env }
- secretRef: { name: {{ include "gantry.secretName" (dict "root" . "name" .Values.temporal.secretName "suffix" "temporal") }}, optional: true }
{{- end -}}

{{/* defaultMode 288 is octal 0440, in decimal so YAML 1.1 and 1.2 parsers agree. */}}
{{- define "gantry.temporalTlsVolume" -}}
- name: temporal-tls
  secret: { secretName: {{ include "gantry.secretName" (dict "root" . "name" .Values.temporal.tls.secretName "suffix" "temporal-tls") }}, optional: true, defaultMode: 288 }
{{- end -}}

{{- define "gantry.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The release worker's rules: deploy/rbac/namespaced/role.yaml (each rule's reasons are there).
test/deploy/install.test.ts checks that these equal deploy/rbac's, for both modes.
*/}}
{{- define "gantry.releaseWorkerRules" -}}
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [list, create, patch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch]
{{- end -}}

{{/* Cluster mode adds what creating a namespace needs (deploy/rbac/cluster/clusterrole.yaml). */}}
{{- define "gantry.clusterOnlyRules" -}}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
{{- end -}}

{{/*
Worker Versioning (values workerVersioning): the build id, checked like the worker checks
GANTRY_BUILD_ID (runtime/config.ts). Default: the image digest (':' as '-') when set, else the tag.
*/}}
{{- define "gantry.buildId" -}}
{{- $w := .Values.workerVersioning -}}
{{- $id := "" -}}
{{- if $w.buildId -}}{{- $id = $w.buildId -}}
{{- else if .Values.image.digest -}}{{- $id = .Values.image.digest | replace ":" "-" -}}
{{- else -}}{{- $id = .Values.image.tag | default .Chart.AppVersion | toString -}}{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$" $id) -}}
{{- fail (printf "workerVersioning.buildId %q is not a build id: letters, digits, . _ + -, starting with a letter or digit, at most 255 (set workerVersioning.buildId)" $id) -}}
{{- end -}}
{{- $id -}}
{{- end -}}

{{/* The Worker Deployment's name: workerVersioning.deploymentName, default the fullname. */}}
{{- define "gantry.workerDeployment" -}}
{{- $name := .Values.workerVersioning.deploymentName | default (include "gantry.fullname" .) -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$" $name) -}}
{{- fail (printf "workerVersioning.deploymentName %q is not a Worker Deployment name: letters, digits, - and _ (no dots or colons)" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/*
The build key: the build id as a name suffix and label value (lower case, at most 20 characters,
and 6 hex of its sha256 so that two ids never share one). Empty when versioning is off.
*/}}
{{- define "gantry.buildKey" -}}
{{- if .Values.workerVersioning.enabled -}}
{{- $id := include "gantry.buildId" . -}}
{{- printf "%s-%s" (regexReplaceAll "[^a-z0-9]+" ($id | lower) "-" | trunc 20 | trimAll "-") ($id | sha256sum | trunc 6) -}}
{{- end -}}
{{- end -}}

{{/* A worker's selector labels: the component's, plus gantry.dev/build-id when versioned. */}}
{{- define "gantry.workerSelectorLabels" -}}
{{ include "gantry.selectorLabels" . }}
{{- with .buildKey }}
gantry.dev/build-id: {{ . }}
{{- end }}
{{- end -}}

{{- define "gantry.workerLabels" -}}
{{ include "gantry.labels" . }}
{{- with .buildKey }}
gantry.dev/build-id: {{ . }}
{{- end }}
{{- end -}}

{{/* A worker Deployment's metadata (name, namespace, labels, the keep policy when versioned). */}}
{{- define "gantry.workerMetadata" -}}
name: {{ include "gantry.fullname" .root }}-{{ .component }}{{ with .buildKey }}-{{ . }}{{ end }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "gantry.workerLabels" . | nindent 2 }}
{{- if .buildKey }}
annotations:
  # Worker Versioning: a helm upgrade to another build id leaves this Deployment running beside the
  # new one (its pinned workflows finish on it); delete it once its version is drained.
  helm.sh/resource-policy: keep
{{- end }}
{{- end -}}

{{/* GANTRY_WORKER_DEPLOYMENT and GANTRY_BUILD_ID for both workers, when versioned. */}}
{{- define "gantry.versioningEnv" -}}
{{- if .Values.workerVersioning.enabled -}}
- { name: GANTRY_WORKER_DEPLOYMENT, value: {{ include "gantry.workerDeployment" . | quote }} }
- { name: GANTRY_BUILD_ID, value: {{ include "gantry.buildId" . | quote }} }
{{- end -}}
{{- end -}}

{{/* The GitHub App's key file (API, release worker): the volume, and its variable when a key is named. */}}
{{- define "gantry.githubAppVolume" -}}
- name: github-app
  secret: { secretName: {{ include "gantry.secretName" (dict "root" . "name" .Values.githubApp.secretName "suffix" "github-app") }}, optional: true, defaultMode: 288 }
{{- end -}}

{{- define "gantry.githubAppEnv" -}}
{{- with .Values.githubApp.privateKeyKey -}}
- { name: GANTRY_GITHUB_APP_PRIVATE_KEY_FILE, value: /etc/gantry/github-app/{{ . }} }
{{- end -}}
{{- end -}}

{{/*
Scrape annotations (the prometheus.io/* convention) on a pod, for the port given; nothing when
metrics.enabled is false. The API serves /metrics on its HTTP port, the workers on metrics.port.
*/}}
{{- define "gantry.scrapeAnnotations" -}}
{{- if .root.Values.metrics.enabled -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* A worker's metrics: the headless Service <fullname>-<component>-metrics (no build id in its selector: every version's pods). */}}
{{- define "gantry.metricsService" -}}
{{- if .root.Values.metrics.enabled }}
---
# Headless: Prometheus scrapes each pod (its EndpointSlices list them). The label gantry.dev/metrics
# is what the ServiceMonitor (metrics.serviceMonitor) selects.
apiVersion: v1
kind: Service
metadata:
  name: {{ include "gantry.fullname" .root }}-{{ .component }}-metrics
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gantry.labels" . | nindent 4 }}
    gantry.dev/metrics: "true"
spec:
  clusterIP: None
  selector:
    {{- include "gantry.selectorLabels" . | nindent 4 }}
  ports:
    - { name: metrics, port: {{ .root.Values.metrics.port }}, targetPort: metrics, protocol: TCP }
{{- end }}
{{- end -}}
