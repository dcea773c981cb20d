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

{{/* volumeMounts entry for the artifact store (nothing for s3://). */}}
{{- define "keel.artifacts.volumeMount" -}}
{{- if not (include "keel.artifacts.isS3" .) }}
- name: artifacts
  mountPath: {{ .Values.artifacts.root }}
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
{{- range $what, $secret := dict "registry.database.url" .Values.registry.database.url "externalRedis.url" .Values.externalRedis.url "redis.auth.password" .Values.redis.auth.password -}}
{{- if regexMatch "(?i)(changeme|change-me|replace-me|<password>|placeholder)" $secret -}}
{{- fail (printf "%s still contains a placeholder secret; set a real value" $what) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.registry.enabled (gt (int (include "keel.registry.replicas" .)) 1) (not (include "keel.artifacts.shared" .)) -}}
{{- fail "registry.replicas > 1 needs a shared artifact store: artifacts.root=s3://..., artifacts.persistence.accessModes=[ReadWriteMany] or an existingClaim" -}}
{{- end -}}
{{- end -}}
