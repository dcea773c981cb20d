{{/*
Helpers shared by every Keel component. All names carry the `keel.` prefix.
Component helpers take a dict: (dict "ctx" $ "component" "registry").
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "keel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified release name (63 characters max, the DNS label limit). */}}
{{- define "keel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* name-version as used by the helm.sh/chart label. */}}
{{- define "keel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>. */}}
{{- define "keel.componentName" -}}
{{- printf "%s-%s" (include "keel.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component (immutable: never add version-like labels here). */}}
{{- define "keel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keel.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels of a component's objects. */}}
{{- define "keel.labels" -}}
helm.sh/chart: {{ include "keel.chart" .ctx }}
{{ include "keel.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: keel
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Image reference: (dict "ctx" $ "image" .Values.<component>.image).
The tag defaults to the chart's appVersion; a digest wins over the tag.
*/}}
{{- define "keel.image" -}}
{{- $img := .image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (toString (default .ctx.Chart.AppVersion $img.tag)) -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount name. */}}
{{- define "keel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "keel.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Pod and container security contexts for Keel images: the top-level defaults with the
component's own fields merged over them. Argument: (dict "ctx" $ "values" .Values.<component>).
*/}}
{{- define "keel.podSecurityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .ctx.Values.podSecurityContext) (default (dict) .values.podSecurityContext)) -}}
{{- end -}}
{{- define "keel.securityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .ctx.Values.securityContext) (default (dict) .values.securityContext)) -}}
{{- end -}}

{{/*
A probe: (dict "probe" .Values.<component>.probes.<name> "handler" (dict ...)).
The chart's handler is used unless the values give one of their own.
*/}}
{{- define "keel.probe" -}}
{{- $probe := omit .probe "enabled" -}}
{{- $hasHandler := false -}}
{{- range $k := list "grpc" "httpGet" "tcpSocket" "exec" -}}
{{- if hasKey $probe $k -}}{{- $hasHandler = true -}}{{- end -}}
{{- end -}}
{{- if not $hasHandler -}}
{{- $probe = merge $probe .handler -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{/* ===================== Redis ===================== */}}

{{/* Name of the Secret holding the in-cluster Valkey password. */}}
{{- define "keel.redis.authSecretName" -}}
{{- if .Values.redis.auth.existingSecret -}}
{{- .Values.redis.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-auth" (include "keel.componentName" (dict "ctx" . "component" "redis")) -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when the external Redis URL carries credentials (user:pass@ or :pass@). */}}
{{- define "keel.redis.externalUrlHasCredentials" -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*@" .Values.externalRedis.url -}}true{{- end -}}
{{- end -}}

{{/*
The Redis URL every component uses, as a plain string. With credentials it contains
$(REDIS_PASSWORD), which Kubernetes expands from the env var set by keel.redis.env.
Fails when neither the in-cluster Valkey nor an external Redis is configured.
*/}}
{{- define "keel.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- $host := printf "%s.%s.svc" (include "keel.componentName" (dict "ctx" . "component" "redis")) .Release.Namespace -}}
{{- if .Values.redis.auth.enabled -}}
{{- printf "redis://:$(REDIS_PASSWORD)@%s:%d/0" $host (int .Values.redis.port) -}}
{{- else -}}
{{- printf "redis://%s:%d/0" $host (int .Values.redis.port) -}}
{{- end -}}
{{- else if .Values.externalRedis.url -}}
{{- .Values.externalRedis.url -}}
{{- else -}}
{{- fail "redis.enabled is false: set externalRedis.url or externalRedis.existingSecret" -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret the chart creates for an external Redis URL with credentials. */}}
{{- define "keel.redis.urlSecretName" -}}
{{- printf "%s-url" (include "keel.componentName" (dict "ctx" . "component" "redis")) -}}
{{- end -}}

{{/* Env entries giving a container KEEL_REDIS_URL (from a Secret when it holds a password). */}}
{{- define "keel.redis.env" -}}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "keel.redis.authSecretName" . }}
      key: {{ .Values.redis.auth.existingSecretKey }}
{{- end }}
- name: KEEL_REDIS_URL
  value: {{ include "keel.redisUrl" . | quote }}
{{- else if .Values.externalRedis.existingSecret }}
- name: KEEL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- else if include "keel.redis.externalUrlHasCredentials" . }}
- name: KEEL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "keel.redis.urlSecretName" . }}
      key: redis-url
{{- else }}
- name: KEEL_REDIS_URL
  value: {{ include "keel.redisUrl" . | quote }}
{{- end }}
{{- end -}}

{{/* ===================== Artifacts ===================== */}}

{{- define "keel.artifacts.isS3" -}}
{{- if hasPrefix "s3://" .Values.artifacts.root -}}true{{- end -}}
{{- end -}}

{{- define "keel.artifacts.claimName" -}}
{{- default (include "keel.componentName" (dict "ctx" . "component" "artifacts")) .Values.artifacts.persistence.existingClaim -}}
{{- end -}}

{{/* True when the local artifact claim can be shared by pods on several nodes. */}}
{{- define "keel.artifacts.shared" -}}
{{- if or (include "keel.artifacts.isS3" .) .Values.artifacts.persistence.existingClaim (has "ReadWriteMany" .Values.artifacts.persistence.accessModes) -}}true{{- end -}}
{{- end -}}

{{/* Env entries for the artifact store. */}}
{{- define "keel.artifacts.env" -}}
- name: KEEL_ARTIFACT_ROOT
  value: {{ .Values.artifacts.root | quote }}
{{- if include "keel.artifacts.isS3" . }}
{{- with .Values.artifacts.s3.endpointUrl }}
- name: KEEL_ARTIFACT_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.artifacts.s3.region }}
- name: AWS_REGION
  value: {{ . | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.artifacts.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.artifacts.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.artifacts.s3.secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
volumeMounts entry for the artifact store (nothing for s3://).
Argument: the root context, or (dict "ctx" $ "readOnly" true) for a consumer that only reads.
*/}}
{{- define "keel.artifacts.volumeMount" -}}
{{- $ctx := . -}}
{{- $readOnly := false -}}
{{- if hasKey . "ctx" -}}
{{- $ctx = .ctx -}}
{{- $readOnly = .readOnly -}}
{{- end -}}
{{- if not (include "keel.artifacts.isS3" $ctx) }}
- name: artifacts
  mountPath: {{ $ctx.Values.artifacts.root }}
{{- if $readOnly }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* volumes entry for the artifact store (nothing for s3://). */}}
{{- define "keel.artifacts.volume" -}}
{{- if not (include "keel.artifacts.isS3" .) }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ include "keel.artifacts.claimName" . }}
{{- end }}
{{- end -}}

{{/* ===================== Registry ===================== */}}

{{/* True when the registry database is the SQLite default. */}}
{{- define "keel.registry.sqlite" -}}
{{- if and (not .Values.registry.database.url) (not .Values.registry.database.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "keel.registry.databaseSecretName" -}}
{{- default (include "keel.componentName" (dict "ctx" . "component" "registry")) .Values.registry.database.existingSecret -}}
{{- end -}}

{{/* Replicas after the SQLite rule (one writer on a ReadWriteOnce claim). */}}
{{- define "keel.registry.replicas" -}}
{{- if include "keel.registry.sqlite" . -}}1{{- else -}}{{ int .Values.registry.replicas }}{{- end -}}
{{- end -}}

{{/* ===================== Inference ===================== */}}

{{/* True when inference runs as a KubeRay RayService. */}}
{{- define "keel.inference.rayService" -}}
{{- if eq .Values.inference.mode "rayService" -}}true{{- end -}}
{{- end -}}

{{/* Image of the inference pods: the CUDA build when gpu.enabled. */}}
{{- define "keel.inference.image" -}}
{{- $v := .Values.inference -}}
{{- include "keel.image" (dict "ctx" . "image" (ternary $v.gpu.image $v.image $v.gpu.enabled)) -}}
{{- end -}}

{{/*
The service's settings as a YAML map keyed by field name (KEEL_INFERENCE_<NAME> in env,
the same names in the Serve application's args): one source for both.
*/}}
{{- define "keel.inference.settings" -}}
{{- $v := .Values.inference -}}
host: "0.0.0.0"
model: {{ $v.model.name | quote }}
model_source: {{ $v.model.source | quote }}
model_cache_dir: /data/models
dtype: {{ $v.model.dtype | quote }}
device: {{ $v.model.device | quote }}
tensor_parallel_size: {{ int $v.tensorParallelSize }}
num_replicas: {{ int $v.numReplicas }}
max_batch_size: {{ int $v.maxBatchSize }}
max_batch_tokens: {{ int $v.maxBatchTokens }}
max_waiting: {{ int $v.maxWaiting }}
max_adapters: {{ int $v.maxAdapters }}
grpc_port: {{ int $v.grpcPort }}
http_port: {{ int $v.httpPort }}
{{- /* Finish draining before the kubelet's SIGKILL. */}}
shutdown_grace_s: {{ max 0 (sub (int $v.terminationGracePeriodSeconds) 10) }}
{{- end -}}

{{/* Env entries of every inference container (Deployment pods, Ray head and workers). */}}
{{- define "keel.inference.env" -}}
{{- $v := .Values.inference -}}
{{- range $name, $value := include "keel.inference.settings" . | fromYaml }}
- name: KEEL_INFERENCE_{{ upper $name }}
  value: {{ toString $value | quote }}
{{- end }}
- name: KEEL_INFERENCE_RAY_ADDRESS
  # deployment mode: "" starts a Ray inside the pod; rayService: join the pod's Ray cluster.
  value: {{ ternary "auto" "" (eq $v.mode "rayService") | quote }}
{{- with include "keel.redis.env" . | trim }}
{{ . }}
{{- end }}
{{- with include "keel.artifacts.env" . | trim }}
{{ . }}
{{- end }}
- name: KEEL_DATA_DIR
  value: /data
- name: KEEL_LOG_LEVEL
  value: {{ default .Values.logLevel $v.logLevel | quote }}
- name: HF_HOME
  value: /data/models/huggingface
- name: RAY_USAGE_STATS_ENABLED
  value: "0"
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Container resources: (dict "ctx" $ "resources" <map>), plus the GPU limit when gpu.enabled
(extended resources need no request: it defaults to the limit).
*/}}
{{- define "keel.inference.resources" -}}
{{- $res := deepCopy (default (dict) .resources) -}}
{{- $gpu := .ctx.Values.inference.gpu -}}
{{- if $gpu.enabled -}}
{{- $limits := default (dict) $res.limits -}}
{{- $_ := set $limits $gpu.resourceName (int $gpu.count) -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/*
True when the Deployment's pods must share the registry's node: the local artifact volume
is ReadWriteOnce (one node mounts it) and the registry runs here.
*/}}
{{- define "keel.inference.pinnedToRegistryNode" -}}
{{- if and .Values.registry.enabled (not (include "keel.inference.rayService" .)) (not (include "keel.artifacts.shared" .)) -}}true{{- end -}}
{{- end -}}

{{/* Affinity of the Deployment's pods: the values' own, plus the registry-node podAffinity above. */}}
{{- define "keel.inference.affinity" -}}
{{- $aff := deepCopy (default (dict) .Values.inference.affinity) -}}
{{- if and (include "keel.inference.pinnedToRegistryNode" .) (not (hasKey $aff "podAffinity")) -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "keel.selectorLabels" (dict "ctx" . "component" "registry") | fromYaml)) -}}
{{- $_ := set $aff "podAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- end -}}
{{- with $aff }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Volumes of every inference pod: /tmp, /dev/shm, /data, the model cache, the artifact store. */}}
{{- define "keel.inference.volumes" -}}
{{- $v := .Values.inference -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.tmp.sizeLimit | quote }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ $v.shm.sizeLimit | quote }}
- name: data
  emptyDir:
    sizeLimit: 256Mi
- name: model-cache
  {{- if $v.modelCache.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ $v.modelCache.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ $v.modelCache.sizeLimit | quote }}
  {{- end }}
{{- with include "keel.artifacts.volume" . | trim }}
{{ . }}
{{- end }}
{{- end -}}

{{- define "keel.inference.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: dshm
  mountPath: /dev/shm
- name: data
  mountPath: /data
- name: model-cache
  mountPath: /data/models
{{- with include "keel.artifacts.volumeMount" (dict "ctx" . "readOnly" true) | trim }}
{{ . }}
{{- end }}
{{- end -}}

{{/* The `resources` ray start parameter of the head: the custom resource that pins InferenceFront. */}}
{{- define "keel.inference.headRayStartParams" -}}
{{- $p := deepCopy (default (dict) .Values.inference.rayService.head.rayStartParams) -}}
{{- if not (hasKey $p "resources") -}}
{{- $_ := set $p "resources" `"{\"keel_grpc_front\": 1}"` -}}
{{- end -}}
{{- range $k, $val := $p }}
{{ $k }}: {{ toString $val | quote }}
{{- end }}
{{- end -}}

{{/* serveConfigV2 of the RayService: the keel-inference application, built from values. */}}
{{- define "keel.inference.serveConfig" -}}
{{- $v := .Values.inference -}}
{{- $rs := $v.rayService -}}
{{- $front := mergeOverwrite (deepCopy (default (dict) $rs.front.rayActorOptions)) (dict "resources" (dict "keel_grpc_front" 1)) -}}
{{- $engine := dict "name" "LLMEngine" "num_replicas" (int $v.numReplicas) -}}
{{- with $rs.engine.rayActorOptions }}
{{- $_ := set $engine "ray_actor_options" . -}}
{{- end }}
{{- $app := dict
    "name" "keel-inference"
    "route_prefix" nil
    "import_path" "keel_inference.app:build_app"
    "args" (include "keel.inference.settings" . | fromYaml)
    "deployments" (list (dict "name" "InferenceFront" "num_replicas" 1 "ray_actor_options" $front) $engine) -}}
{{- $cfg := dict
    "proxy_location" $rs.proxyLocation
    "http_options" (dict "host" "0.0.0.0" "port" 8000)
    "logging_config" (dict "encoding" "JSON" "log_level" (default .Values.logLevel $v.logLevel))
    "applications" (list $app) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Cross-field checks of the inference values (called from keel.validate). */}}
{{- define "keel.inference.validate" -}}
{{- $v := .Values.inference -}}
{{- $tp := int $v.tensorParallelSize -}}
{{- $n := int $v.numReplicas -}}
{{- if and (eq $v.model.device "cuda") (not $v.gpu.enabled) -}}
{{- fail "inference.model.device=cuda needs inference.gpu.enabled=true (no GPU is allocated to the pods otherwise)" -}}
{{- end -}}
{{- if and (eq $v.model.device "cpu") $v.gpu.enabled -}}
{{- fail "inference.model.device=cpu with inference.gpu.enabled=true would hold GPUs it never uses: set device auto or cuda, or disable gpu" -}}
{{- end -}}
{{- if include "keel.inference.rayService" . -}}
{{- $w := $v.rayService.worker -}}
{{- if not (include "keel.artifacts.shared" .) -}}
{{- fail "inference.mode=rayService needs a shared artifact store (Ray workers run on several nodes): artifacts.root=s3://..., artifacts.persistence.accessModes=[ReadWriteMany] or an existingClaim" -}}
{{- end -}}
{{- if or (gt (int $w.minReplicas) (int $w.replicas)) (gt (int $w.replicas) (int $w.maxReplicas)) -}}
{{- fail (printf "inference.rayService.worker: need minReplicas (%d) <= replicas (%d) <= maxReplicas (%d)" (int $w.minReplicas) (int $w.replicas) (int $w.maxReplicas)) -}}
{{- end -}}
{{- with $v.rayService.head.rayStartParams.resources -}}
{{- if not (contains "keel_grpc_front" (toString .)) -}}
{{- fail "inference.rayService.head.rayStartParams.resources must keep keel_grpc_front (it pins InferenceFront to the head)" -}}
{{- end -}}
{{- end -}}
{{- if $v.gpu.enabled -}}
{{- if lt (int $v.gpu.count) $tp -}}
{{- fail (printf "inference.gpu.count (%d) is less than inference.tensorParallelSize (%d): an LLMEngine replica's GPUs must sit on one Ray worker (STRICT_PACK)" (int $v.gpu.count) $tp) -}}
{{- end -}}
{{- $workers := ternary (int $w.maxReplicas) (int $w.replicas) $v.rayService.autoscaling.enabled -}}
{{- $fit := mul $workers (div (int $v.gpu.count) $tp) -}}
{{- if lt $fit $n -}}
{{- fail (printf "inference.numReplicas (%d) LLMEngine replicas of %d GPUs do not fit on %d worker(s) of %d GPUs: raise inference.rayService.worker.%s or inference.gpu.count" $n $tp $workers (int $v.gpu.count) (ternary "maxReplicas" "replicas" $v.rayService.autoscaling.enabled)) -}}
{{- end -}}
{{- end -}}
{{- else if $v.gpu.enabled -}}
{{- if lt (int $v.gpu.count) (mul $tp $n) -}}
{{- fail (printf "inference.gpu.count (%d) is less than inference.tensorParallelSize x numReplicas (%d x %d): in deployment mode every LLMEngine replica's GPUs come from one pod" (int $v.gpu.count) $tp $n) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ===================== Gateway ===================== */}}

{{/* host:port of the registry's gRPC API: gateway.registryTarget, else the chart's Service. */}}
{{- define "keel.gateway.registryTarget" -}}
{{- if .Values.gateway.registryTarget -}}
{{- .Values.gateway.registryTarget -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "registry")) .Release.Namespace (int .Values.registry.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of inference's gRPC API: gateway.inferenceTarget, else the chart's Service. */}}
{{- define "keel.gateway.inferenceTarget" -}}
{{- if .Values.gateway.inferenceTarget -}}
{{- .Values.gateway.inferenceTarget -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "inference")) .Release.Namespace (int .Values.inference.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of the training API's gRPC: gateway.trainingTarget, else the chart's Service when training is enabled, else "". */}}
{{- define "keel.gateway.trainingTarget" -}}
{{- if .Values.gateway.trainingTarget -}}
{{- .Values.gateway.trainingTarget -}}
{{- else if .Values.training.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "training")) .Release.Namespace (int .Values.training.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of the ingestion API's gRPC: gateway.ingestionTarget, else the chart's Service when ingestion is enabled, else "". */}}
{{- define "keel.gateway.ingestionTarget" -}}
{{- if .Values.gateway.ingestionTarget -}}
{{- .Values.gateway.ingestionTarget -}}
{{- else if .Values.ingestion.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "ingestion")) .Release.Namespace (int .Values.ingestion.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of the ingestion API's gRPC for feedback's exports: feedback.ingestionTarget, else the chart's Service when ingestion is enabled, else "". */}}
{{- define "keel.feedback.ingestionTarget" -}}
{{- if .Values.feedback.ingestionTarget -}}
{{- .Values.feedback.ingestionTarget -}}
{{- else if .Values.ingestion.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "ingestion")) .Release.Namespace (int .Values.ingestion.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of the feedback API's gRPC: gateway.feedbackTarget, else the chart's Service when feedback is enabled, else "". */}}
{{- define "keel.gateway.feedbackTarget" -}}
{{- if .Values.gateway.feedbackTarget -}}
{{- .Values.gateway.feedbackTarget -}}
{{- else if .Values.feedback.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "feedback")) .Release.Namespace (int .Values.feedback.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the API-key pepper. */}}
{{- define "keel.gateway.pepperSecretName" -}}
{{- default (printf "%s-pepper" (include "keel.componentName" (dict "ctx" . "component" "gateway"))) .Values.gateway.pepper.existingSecret -}}
{{- end -}}

{{/* The guardrail policy as YAML text ("" = none given: the gateway's built-in default). */}}
{{- define "keel.gateway.policy" -}}
{{- $p := .Values.gateway.policy -}}
{{- if kindIs "string" $p -}}
{{- trim $p -}}
{{- else if $p -}}
{{- toYaml $p -}}
{{- end -}}
{{- end -}}

{{/* The fewest gateway pods the release keeps: the HPA's minReplicas, else replicas. */}}
{{- define "keel.gateway.minReplicas" -}}
{{- $v := .Values.gateway -}}
{{- if $v.autoscaling.enabled -}}{{ int $v.autoscaling.minReplicas }}{{- else -}}{{ int $v.replicas }}{{- end -}}
{{- end -}}

{{/*
Egress rule to a gRPC target: (dict "ctx" $ "component" "registry" "external" <target or "">
"port" <in-cluster port>). In-cluster: the component's pods on its port; external: any
destination on the target's port.
*/}}
{{- define "keel.gateway.egressRule" -}}
{{- if .external }}
- ports:
    - protocol: TCP
      port: {{ regexFind "[0-9]+$" .external | int }}
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "keel.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ int .port }}
{{- end }}
{{- end -}}

{{/* Port of the external Redis: from externalRedis.url, else 6379 (URL in a Secret). */}}
{{- define "keel.gateway.externalRedisPort" -}}
{{- $hostPort := regexReplaceAll "^[a-z]+://([^/@]*@)?([^/?]*).*$" .Values.externalRedis.url "${2}" -}}
{{- default "6379" (regexFind "[0-9]+$" (regexFind ":[0-9]+$" $hostPort)) -}}
{{- end -}}

{{/* Cross-field checks of the gateway values (called from keel.validate). */}}
{{- define "keel.gateway.validate" -}}
{{- $v := .Values.gateway -}}
{{- if and $v.pepper.existingSecret $v.pepper.value -}}
{{- fail "gateway.pepper: set existingSecret or value, not both" -}}
{{- end -}}
{{- if not (or $v.pepper.existingSecret $v.pepper.value) -}}
{{- fail "gateway.pepper: set gateway.pepper.existingSecret (a Secret with the pepper under gateway.pepper.existingSecretKey) or gateway.pepper.value (e.g. $(openssl rand -hex 32)). The chart does not generate one: API keys are hashed with it, and a new value on upgrade would invalidate every key" -}}
{{- end -}}
{{- if and (not .Values.registry.enabled) (not $v.registryTarget) -}}
{{- fail "gateway needs the registry: enable registry or set gateway.registryTarget (host:port of a registry elsewhere)" -}}
{{- end -}}
{{- if and (not .Values.inference.enabled) (not $v.inferenceTarget) -}}
{{- fail "gateway needs inference: enable inference or set gateway.inferenceTarget (host:port of an inference service elsewhere)" -}}
{{- end -}}
{{- if $v.autoscaling.enabled -}}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) -}}
{{- fail (printf "gateway.autoscaling: minReplicas (%d) is above maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if not (and $v.resources.requests $v.resources.requests.cpu) -}}
{{- fail "gateway.autoscaling.enabled needs gateway.resources.requests.cpu (the HPA's CPU target is a share of it)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.pdb.enabled (eq (toString $v.pdb.minAvailable) "") (eq (toString $v.pdb.maxUnavailable) "") -}}
{{- fail "gateway.pdb.enabled: set gateway.pdb.minAvailable or gateway.pdb.maxUnavailable" -}}
{{- end -}}
{{- with include "keel.gateway.policy" . -}}
{{- if hasKey (fromYaml .) "Error" -}}
{{- fail (printf "gateway.policy is not a YAML map: %s" (get (fromYaml .) "Error")) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ===================== Training (API and workers) ===================== */}}

{{/* host:port of the registry's gRPC API for training: training.registryTarget, else the chart's Service. */}}
{{- define "keel.training.registryTarget" -}}
{{- if .Values.training.registryTarget -}}
{{- .Values.training.registryTarget -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "registry")) .Release.Namespace (int .Values.registry.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* True when the training workers have GPUs (and run the CUDA image). */}}
{{- define "keel.trainingWorker.gpu" -}}
{{- if gt (int .Values.trainingWorker.gpu.count) 0 -}}true{{- end -}}
{{- end -}}

{{/* Image of the worker pods: the CUDA build when they have GPUs. */}}
{{- define "keel.trainingWorker.image" -}}
{{- $v := .Values.trainingWorker -}}
{{- include "keel.image" (dict "ctx" . "image" (ternary $v.gpu.image $v.image (eq (include "keel.trainingWorker.gpu" .) "true"))) -}}
{{- end -}}

{{/*
Env entries the API and the workers share: one settings class reads them in both, so the
queue, the time limits, Redis, the artifact store and the registry cannot drift apart.
*/}}
{{- define "keel.training.sharedEnv" -}}
{{- $w := .Values.trainingWorker -}}
# The API's gRPC and HTTP servers, and a worker's metrics server, bind this host.
- name: KEEL_TRAINING_HOST
  value: "0.0.0.0"
- name: KEEL_TRAINING_REGISTRY_TARGET
  value: {{ include "keel.training.registryTarget" . | quote }}
- name: KEEL_TRAINING_DEFAULT_QUEUE
  value: {{ .Values.training.defaultQueue | quote }}
- name: KEEL_TRAINING_JOB_TIME_LIMIT_S
  value: {{ int $w.jobTimeLimitSeconds | quote }}
- name: KEEL_TRAINING_VISIBILITY_TIMEOUT_S
  value: {{ int $w.visibilityTimeoutSeconds | quote }}
{{- with include "keel.redis.env" . | trim }}
{{ . }}
{{- end }}
{{- with include "keel.artifacts.env" . | trim }}
{{ . }}
{{- end }}
- name: KEEL_DATA_DIR
  value: /data
{{- end -}}

{{/*
Affinity of a training pod: (dict "ctx" $ "affinity" <values' affinity>). With a local
ReadWriteOnce artifact volume and the registry here, a required podAffinity to the
registry's node (the only node that can mount the volume) unless podAffinity is given.
*/}}
{{- define "keel.training.affinity" -}}
{{- $ctx := .ctx -}}
{{- $aff := deepCopy (default (dict) .affinity) -}}
{{- if and (include "keel.training.pinnedToRegistryNode" $ctx) (not (hasKey $aff "podAffinity")) -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "keel.selectorLabels" (dict "ctx" $ctx "component" "registry") | fromYaml)) -}}
{{- $_ := set $aff "podAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- end -}}
{{- with $aff }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "keel.training.pinnedToRegistryNode" -}}
{{- if and .Values.registry.enabled (not (include "keel.artifacts.shared" .)) -}}true{{- end -}}
{{- end -}}

{{/* Container resources of a worker, plus <gpu.resourceName>: <gpu.count> in the limits. */}}
{{- define "keel.trainingWorker.resources" -}}
{{- $res := deepCopy (default (dict) .Values.trainingWorker.resources) -}}
{{- $gpu := .Values.trainingWorker.gpu -}}
{{- if include "keel.trainingWorker.gpu" . -}}
{{- $limits := default (dict) $res.limits -}}
{{- $_ := set $limits $gpu.resourceName (int $gpu.count) -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/* The workers' priorityClassName ("" = none). */}}
{{- define "keel.trainingWorker.priorityClassName" -}}
{{- $p := .Values.trainingWorker.priorityClass -}}
{{- if $p.create -}}
{{- default (include "keel.componentName" (dict "ctx" . "component" "training-worker")) $p.name -}}
{{- else -}}
{{- $p.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret the chart makes for the scaler when an external Redis URL carries credentials. */}}
{{- define "keel.trainingWorker.kedaSecretName" -}}
{{- printf "%s-keda" (include "keel.componentName" (dict "ctx" . "component" "training-worker")) -}}
{{- end -}}

{{/*
Where KEDA's redis scaler connects, as YAML: address, databaseIndex, enableTLS, and auth
(secret name, passwordKey, usernameKey; absent without a password) plus chartSecret
(password and username for a Secret the chart renders). Sources, in order:
trainingWorker.keda.redis.address; the in-cluster Valkey; externalRedis.url.
*/}}
{{- define "keel.trainingWorker.kedaRedis" -}}
{{- $k := .Values.trainingWorker.keda.redis -}}
{{- $out := dict -}}
{{- if $k.address -}}
{{- $_ := set $out "address" $k.address -}}
{{- $_ := set $out "databaseIndex" (int $k.databaseIndex) -}}
{{- $_ := set $out "enableTLS" $k.enableTLS -}}
{{- if $k.existingSecret -}}
{{- $_ := set $out "auth" (dict "secret" $k.existingSecret "passwordKey" $k.passwordKey "usernameKey" $k.usernameKey) -}}
{{- end -}}
{{- else if .Values.redis.enabled -}}
{{- $_ := set $out "address" (printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "redis")) .Release.Namespace (int .Values.redis.port)) -}}
{{- $_ := set $out "databaseIndex" 0 -}}
{{- $_ := set $out "enableTLS" false -}}
{{- if .Values.redis.auth.enabled -}}
{{- $_ := set $out "auth" (dict "secret" (include "keel.redis.authSecretName" .) "passwordKey" .Values.redis.auth.existingSecretKey "usernameKey" "") -}}
{{- end -}}
{{- else if .Values.externalRedis.url -}}
{{- $u := urlParse .Values.externalRedis.url -}}
{{- $host := $u.host -}}
{{- if not (regexMatch ":[0-9]+$" $host) -}}{{- $host = printf "%s:6379" $host -}}{{- end -}}
{{- $_ := set $out "address" $host -}}
{{- $_ := set $out "databaseIndex" (int (default "0" (regexFind "[0-9]+" $u.path))) -}}
{{- $_ := set $out "enableTLS" (eq $u.scheme "rediss") -}}
{{- with $u.userinfo -}}
{{- $user := regexReplaceAll ":.*$" . "" -}}
{{- $password := ternary (regexReplaceAll "^[^:]*:" . "") "" (contains ":" .) -}}
{{- if $password -}}
{{- $_ := set $out "auth" (dict "secret" (include "keel.trainingWorker.kedaSecretName" $) "passwordKey" "redis-password" "usernameKey" (ternary "redis-username" "" (ne $user ""))) -}}
{{- $_ := set $out "chartSecret" (dict "password" $password "username" $user) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Name of the TriggerAuthentication of the workers' ScaledObject. */}}
{{- define "keel.trainingWorker.triggerAuthName" -}}
{{- include "keel.componentName" (dict "ctx" . "component" "training-worker") -}}
{{- end -}}

{{/* Cross-field checks of the training values (called from keel.validate). */}}
{{- define "keel.training.validate" -}}
{{- $t := .Values.training -}}
{{- $w := .Values.trainingWorker -}}
{{- if and (not .Values.registry.enabled) (not $t.registryTarget) -}}
{{- fail "training needs the registry (jobs register their adapters there): enable registry or set training.registryTarget (host:port of a registry elsewhere)" -}}
{{- end -}}
{{- if le (int64 $w.visibilityTimeoutSeconds) (int64 $w.jobTimeLimitSeconds) -}}
{{- fail (printf "trainingWorker.visibilityTimeoutSeconds (%d) must be larger than trainingWorker.jobTimeLimitSeconds (%d): Redis would give a still-running job to a second worker" (int64 $w.visibilityTimeoutSeconds) (int64 $w.jobTimeLimitSeconds)) -}}
{{- end -}}
{{- if $w.enabled -}}
{{- if and (not (include "keel.trainingWorker.gpu" .)) (has "train.gpu" $w.queues) -}}
{{- fail "trainingWorker.gpu.count is 0 (a CPU worker) but trainingWorker.queues has train.gpu: a CPU worker would take GPU jobs. Use queues [train.cpu] (and training.defaultQueue train.cpu), or give the workers GPUs" -}}
{{- end -}}
{{- if $w.keda.enabled -}}
{{- if gt (int $w.keda.minReplicaCount) (int $w.keda.maxReplicaCount) -}}
{{- fail (printf "trainingWorker.keda: minReplicaCount (%d) is above maxReplicaCount (%d)" (int $w.keda.minReplicaCount) (int $w.keda.maxReplicaCount)) -}}
{{- end -}}
{{- if and (not $w.keda.redis.address) (not .Values.redis.enabled) .Values.externalRedis.existingSecret -}}
{{- fail "trainingWorker.keda: the Redis URL comes from externalRedis.existingSecret, which KEDA cannot read: set trainingWorker.keda.redis.address (host:port), and keda.redis.existingSecret with the password if there is one" -}}
{{- end -}}
{{- if and (not $w.keda.redis.address) (not .Values.redis.enabled) (contains "%" (default "" (urlParse (default "" .Values.externalRedis.url)).userinfo)) -}}
{{- fail "trainingWorker.keda: the password in externalRedis.url is percent-encoded; KEDA needs it plain: set trainingWorker.keda.redis.address and keda.redis.existingSecret (a Secret with the password)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ===================== Ingestion (API and build workers) ===================== */}}

{{/* True when the ingestion database is the SQLite default. */}}
{{- define "keel.ingestion.sqlite" -}}
{{- if and (not .Values.ingestion.database.url) (not .Values.ingestion.database.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "keel.ingestion.databaseSecretName" -}}
{{- default (include "keel.componentName" (dict "ctx" . "component" "ingestion")) .Values.ingestion.database.existingSecret -}}
{{- end -}}

{{/* Name of the SQLite claim (mounted at /data by the API and the workers). */}}
{{- define "keel.ingestion.dataClaimName" -}}
{{- default (printf "%s-data" (include "keel.componentName" (dict "ctx" . "component" "ingestion"))) .Values.ingestion.database.sqlite.persistence.existingClaim -}}
{{- end -}}

{{/* API replicas after the SQLite rule (one writer on a ReadWriteOnce claim). */}}
{{- define "keel.ingestion.replicas" -}}
{{- if include "keel.ingestion.sqlite" . -}}1{{- else -}}{{ int .Values.ingestion.replicas }}{{- end -}}
{{- end -}}

{{/* host:port of inference's gRPC for QA synthesis: ingestion.inferenceTarget, else the chart's Service when inference is enabled, else "". */}}
{{- define "keel.ingestion.inferenceTarget" -}}
{{- if .Values.ingestion.inferenceTarget -}}
{{- .Values.ingestion.inferenceTarget -}}
{{- else if .Values.inference.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "inference")) .Release.Namespace (int .Values.inference.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* host:port of the registry's gRPC: ingestion.registryTarget, else the chart's Service when the registry is enabled, else "" (no registry). */}}
{{- define "keel.ingestion.registryTarget" -}}
{{- if .Values.ingestion.registryTarget -}}
{{- .Values.ingestion.registryTarget -}}
{{- else if .Values.registry.enabled -}}
{{- printf "%s.%s.svc:%d" (include "keel.componentName" (dict "ctx" . "component" "registry")) .Release.Namespace (int .Values.registry.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/*
Env entries the API and the workers share: one settings class reads them in both, so the
queue, the limits, the database, Redis, the artifact store and the targets cannot drift apart.
*/}}
{{- define "keel.ingestion.sharedEnv" -}}
{{- $v := .Values.ingestion -}}
# The API's gRPC and HTTP servers, and a worker's metrics server, bind this host.
- name: KEEL_INGESTION_HOST
  value: "0.0.0.0"
- name: KEEL_INGESTION_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "keel.ingestion.databaseSecretName" . }}
      key: {{ $v.database.existingSecretKey }}
- name: KEEL_INGESTION_MIGRATE_ON_START
  value: {{ $v.database.migrateOnStart | quote }}
{{- with include "keel.ingestion.inferenceTarget" . }}
- name: KEEL_INGESTION_INFERENCE_TARGET
  value: {{ . | quote }}
{{- end }}
# "" = no registry: a synthesis model must then be a base model.
- name: KEEL_INGESTION_REGISTRY_TARGET
  value: {{ include "keel.ingestion.registryTarget" . | quote }}
- name: KEEL_INGESTION_QUEUE
  value: {{ $v.worker.queue | quote }}
- name: KEEL_INGESTION_BUILD_TIME_LIMIT_S
  value: {{ int $v.worker.buildTimeLimitSeconds | quote }}
- name: KEEL_INGESTION_SHARD_DOCUMENTS
  value: {{ int $v.worker.shardDocuments | quote }}
- name: KEEL_INGESTION_SHARD_CHUNKS
  value: {{ int $v.worker.shardChunks | quote }}
- name: KEEL_INGESTION_MAX_DOCUMENT_BYTES
  value: {{ int64 $v.documents.maxBytes | quote }}
- name: KEEL_INGESTION_MAX_TEXT_CHARS
  value: {{ int64 $v.documents.maxTextChars | quote }}
- name: KEEL_INGESTION_MAX_PAGES
  value: {{ int $v.documents.maxPages | quote }}
{{- with $v.baseModels }}
- name: KEEL_INGESTION_BASE_MODELS
  value: {{ toJson . | quote }}
{{- end }}
{{- with include "keel.redis.env" . | trim }}
{{ . }}
{{- end }}
{{- with include "keel.artifacts.env" . | trim }}
{{ . }}
{{- end }}
- name: KEEL_DATA_DIR
  value: /data
{{- end -}}

{{/* volumes entry `data` (/data): the SQLite claim, else an emptyDir. */}}
{{- define "keel.ingestion.dataVolume" -}}
- name: data
  {{- if include "keel.ingestion.sqlite" . }}
  persistentVolumeClaim:
    claimName: {{ include "keel.ingestion.dataClaimName" . }}
  {{- else }}
  emptyDir:
    sizeLimit: 256Mi
  {{- end }}
{{- end -}}

{{/*
Affinity of an ingestion pod: (dict "ctx" $ "affinity" <values' affinity> "worker" <bool>).
Unless podAffinity is given: a required podAffinity to the registry's node when the local
artifact volume is ReadWriteOnce (as for training); else, for a worker while the database is
SQLite, to the API's node (the workers open the same file on the same claim).
*/}}
{{- define "keel.ingestion.affinity" -}}
{{- $ctx := .ctx -}}
{{- $aff := deepCopy (default (dict) .affinity) -}}
{{- if not (hasKey $aff "podAffinity") -}}
{{- $to := "" -}}
{{- if include "keel.training.pinnedToRegistryNode" $ctx -}}
{{- $to = "registry" -}}
{{- else if and .worker (include "keel.ingestion.sqlite" $ctx) -}}
{{- $to = "ingestion" -}}
{{- end -}}
{{- with $to -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "keel.selectorLabels" (dict "ctx" $ctx "component" .) | fromYaml)) -}}
{{- $_ := set $aff "podAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- end -}}
{{- end -}}
{{- with $aff }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Cross-field checks of the ingestion values (called from keel.validate). */}}
{{- define "keel.ingestion.validate" -}}
{{- $v := .Values.ingestion -}}
{{- if and $v.database.url $v.database.existingSecret -}}
{{- fail "ingestion.database: set url or existingSecret, not both" -}}
{{- end -}}
{{- end -}}

{{/* ===================== Feedback ===================== */}}

{{/* True when the feedback database is the SQLite default. */}}
{{- define "keel.feedback.sqlite" -}}
{{- if and (not .Values.feedback.database.url) (not .Values.feedback.database.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "keel.feedback.databaseSecretName" -}}
{{- default (include "keel.componentName" (dict "ctx" . "component" "feedback")) .Values.feedback.database.existingSecret -}}
{{- end -}}

{{/* Name of the SQLite claim (mounted at /data). */}}
{{- define "keel.feedback.dataClaimName" -}}
{{- default (printf "%s-data" (include "keel.componentName" (dict "ctx" . "component" "feedback"))) .Values.feedback.database.sqlite.persistence.existingClaim -}}
{{- end -}}

{{/* Replicas after the SQLite rule (one writer on a ReadWriteOnce claim). */}}
{{- define "keel.feedback.replicas" -}}
{{- if include "keel.feedback.sqlite" . -}}1{{- else -}}{{ int .Values.feedback.replicas }}{{- end -}}
{{- end -}}

{{/* Cross-field checks of the feedback values (called from keel.validate). */}}
{{- define "keel.feedback.validate" -}}
{{- $v := .Values.feedback -}}
{{- if and $v.database.url $v.database.existingSecret -}}
{{- fail "feedback.database: set url or existingSecret, not both" -}}
{{- end -}}
{{- $c := $v.consumer -}}
{{- if le (mulf (float64 $c.claimIdleSeconds) 1000.0) (float64 $c.blockMs) -}}
{{- fail (printf "feedback.consumer.claimIdleSeconds (%v) must exceed one read's blockMs (%d ms): consumers would claim entries another one is still reading" $c.claimIdleSeconds (int $c.blockMs)) -}}
{{- end -}}
{{- end -}}

{{/* Cross-field checks that a JSON schema cannot express well. */}}
{{- define "keel.validate" -}}
{{- if and .Values.registry.database.url .Values.registry.database.existingSecret -}}
{{- fail "registry.database: set url or existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.externalRedis.url .Values.externalRedis.existingSecret -}}
{{- fail "externalRedis: set url or existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.redis.enabled (or .Values.externalRedis.url .Values.externalRedis.existingSecret) -}}
{{- fail "externalRedis is set but redis.enabled is true: set redis.enabled=false to use an external Redis" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) (not .Values.externalRedis.existingSecret) -}}
{{- fail "redis.enabled is false: set externalRedis.url or externalRedis.existingSecret" -}}
{{- end -}}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled (not .Values.redis.auth.password) (not .Values.redis.auth.existingSecret) -}}
{{- fail "redis.auth.enabled: set redis.auth.password or redis.auth.existingSecret" -}}
{{- end -}}
{{- /* Same placeholder list as keel_common.settings.reject_placeholder: fail at install, not in a crash loop. */ -}}
{{- range $what, $secret := dict "registry.database.url" .Values.registry.database.url "externalRedis.url" .Values.externalRedis.url "redis.auth.password" .Values.redis.auth.password "gateway.pepper.value" .Values.gateway.pepper.value "ingestion.database.url" .Values.ingestion.database.url "feedback.database.url" .Values.feedback.database.url -}}
{{- if regexMatch "(?i)(changeme|change-me|replace-me|<password>|placeholder)" $secret -}}
{{- fail (printf "%s still contains a placeholder secret; set a real value" $what) -}}
{{- end -}}
{{- end -}}
{{- if .Values.inference.enabled -}}
{{- include "keel.inference.validate" . -}}
{{- end -}}
{{- if .Values.gateway.enabled -}}
{{- include "keel.gateway.validate" . -}}
{{- end -}}
{{- if or .Values.training.enabled .Values.trainingWorker.enabled -}}
{{- include "keel.training.validate" . -}}
{{- end -}}
{{- if .Values.ingestion.enabled -}}
{{- include "keel.ingestion.validate" . -}}
{{- end -}}
{{- if .Values.feedback.enabled -}}
{{- include "keel.feedback.validate" . -}}
{{- end -}}
{{- if and .Values.registry.enabled (gt (int (include "keel.registry.replicas" .)) 1) (not (include "keel.artifacts.shared" .)) -}}
{{- fail "registry.replicas > 1 needs a shared artifact store: artifacts.root=s3://..., artifacts.persistence.accessModes=[ReadWriteMany] or an existingClaim" -}}
{{- end -}}
{{- end -}}
