{{/*
Helpers. Only a small subset of Go templates and Sprig is used on purpose:
tests/deploy/gotemplate.py renders this chart in CI, where Helm is not installed.
*/}}

{{- define "phalanx.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end }}

{{- define "phalanx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "phalanx.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "phalanx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Pods of both tracks. */}}
{{- define "phalanx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "phalanx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "phalanx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "phalanx.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{- define "phalanx.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "phalanx.fullname" .)) .Values.apiKeys.existingSecret -}}
{{- end }}

{{/*
Container arguments (ENTRYPOINT is "phalanx"). Flags and defaults: docs/configuration.md.
Numbers go through `int` before `quote`: Helm reads values as float64, which would print
1000000 as "1e+06". Context: dict "root" $ "track" "stable"|"canary".
*/}}
{{- define "phalanx.args" -}}
{{- $v := .root.Values -}}
- serve
- --model
- {{ printf "/models/%s" $v.model.file | quote }}
- --device
- {{ $v.server.device | quote }}
- --grpc-port
- {{ $v.server.ports.grpc | int | quote }}
- --http-port
- {{ $v.server.ports.http | int | quote }}
- --api-port
- {{ $v.server.ports.api | int | quote }}
- --lb-agent-port
- {{ $v.server.ports.lbAgent | int | quote }}
- --drain-timeout-s
- {{ $v.server.drainTimeoutSeconds | int | quote }}
- --max-batch
- {{ $v.server.maxBatch | int | quote }}
- --max-tokens-per-step
- {{ $v.server.maxTokensPerStep | int | quote }}
- --max-inflight
- {{ $v.server.maxInflight | int | quote }}
- --max-queue
- {{ $v.server.maxQueue | int | quote }}
- --kv-dtype
- {{ $v.server.kvDtype | quote }}
{{- if $v.server.kvCacheMb }}
- --kv-cache-mb
- {{ $v.server.kvCacheMb | int | quote }}
{{- end }}
- --slo-ttft-ms
- {{ $v.server.sloTtftMs | int | quote }}
- --slo-itl-ms
- {{ $v.server.sloItlMs | int | quote }}
- --rate-limit-rps
- {{ $v.server.rateLimitRps | int | quote }}
- --rate-limit-tpm
- {{ $v.server.rateLimitTpm | int | quote }}
- --degraded-mode
- {{ $v.server.degradedMode | quote }}
- --log-format
- {{ $v.server.logFormat | quote }}
- --log-level
- {{ $v.server.logLevel | quote }}
{{- if $v.server.auditLog }}
- --audit-log
- {{ $v.server.auditLog | quote }}
{{- end }}
{{- if $v.apiKeys.enabled }}
- --api-keys
- /etc/phalanx/keys/api-keys.yaml
{{- end }}
{{- if $v.tls.enabled }}
- --tls-cert
- /etc/phalanx/tls/tls.crt
- --tls-key
- /etc/phalanx/tls/tls.key
{{- if $v.tls.clientCA }}
- --tls-client-ca
- /etc/phalanx/tls/ca.crt
{{- end }}
{{- end }}
{{- range $v.server.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- if eq .track "canary" }}
{{- range $v.canary.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Pod template of one track. Context: dict "root" $ "track" "stable"|"canary".
*/}}
{{- define "phalanx.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .root.Values -}}
{{- $stableTag := default $root.Chart.AppVersion $v.image.tag -}}
{{- $tag := ternary (default $stableTag $v.canary.image.tag) $stableTag (eq .track "canary") -}}
{{- if and (eq $v.probes.readiness.type "grpc") $v.tls.enabled }}
{{- fail "probes.readiness.type=grpc needs tls.enabled=false: the kubelet's gRPC probe is plaintext only" }}
{{- end -}}
metadata:
  labels:
    {{- include "phalanx.selectorLabels" $root | nindent 4 }}
    track: {{ .track }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "phalanx.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- if $v.model.fetch.enabled }}
  initContainers:
    - name: fetch-model
      image: {{ $v.model.fetch.image | quote }}
      command: ["/bin/sh", "-c"]
      args:
        - |
          set -eu
          if [ -s "/models/$MODEL_FILE" ]; then exit 0; fi
          curl -fL --retry 5 --retry-delay 5 -o "/models/$MODEL_FILE.part" "$MODEL_URL"
          echo "$MODEL_SHA256  /models/$MODEL_FILE.part" | sha256sum -c -
          mv "/models/$MODEL_FILE.part" "/models/$MODEL_FILE"
      env:
        - name: MODEL_URL
          value: {{ required "model.fetch.url is required when model.fetch.enabled" $v.model.fetch.url | quote }}
        - name: MODEL_SHA256
          value: {{ required "model.fetch.sha256 is required when model.fetch.enabled" $v.model.fetch.sha256 | quote }}
        - name: MODEL_FILE
          value: {{ $v.model.file | quote }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: models
          mountPath: /models
  {{- end }}
  containers:
    - name: phalanx
      image: {{ printf "%s:%s" $v.image.repository $tag | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- include "phalanx.args" . | nindent 8 }}
      ports:
        - name: grpc
          containerPort: {{ $v.server.ports.grpc }}
          protocol: TCP
        - name: http
          containerPort: {{ $v.server.ports.http }}
          protocol: TCP
        {{- if $v.server.ports.api }}
        - name: api
          containerPort: {{ $v.server.ports.api }}
          protocol: TCP
        {{- end }}
        {{- if $v.server.ports.lbAgent }}
        - name: lb-agent
          containerPort: {{ $v.server.ports.lbAgent }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet:
          path: {{ $v.probes.startup.path }}
          port: http
        timeoutSeconds: {{ $v.probes.timeoutSeconds }}
        periodSeconds: {{ $v.probes.startup.periodSeconds }}
        failureThreshold: {{ $v.probes.startup.failureThreshold }}
      readinessProbe:
        {{- if eq $v.probes.readiness.type "grpc" }}
        grpc:
          port: {{ $v.server.ports.grpc }}
        {{- else }}
        httpGet:
          path: {{ $v.probes.readiness.path }}
          port: http
        {{- end }}
        timeoutSeconds: {{ $v.probes.timeoutSeconds }}
        periodSeconds: {{ $v.probes.readiness.periodSeconds }}
        failureThreshold: {{ $v.probes.readiness.failureThreshold }}
      livenessProbe:
        httpGet:
          path: {{ $v.probes.liveness.path }}
          port: http
        timeoutSeconds: {{ $v.probes.timeoutSeconds }}
        periodSeconds: {{ $v.probes.liveness.periodSeconds }}
        failureThreshold: {{ $v.probes.liveness.failureThreshold }}
      lifecycle:
        preStop:
          exec:
            command: ["/bin/sleep", {{ $v.lifecycle.preStopSleepSeconds | quote }}]
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: models
          mountPath: /models
          readOnly: true
        {{- if $v.apiKeys.enabled }}
        - name: api-keys
          mountPath: /etc/phalanx/keys
          readOnly: true
        {{- end }}
        {{- if $v.tls.enabled }}
        - name: tls
          mountPath: /etc/phalanx/tls
          readOnly: true
        {{- end }}
  volumes:
    {{- if $v.model.fetch.enabled }}
    - name: models
      emptyDir:
        sizeLimit: {{ $v.model.fetch.sizeLimit }}
    {{- else }}
    - name: models
      persistentVolumeClaim:
        claimName: {{ $v.model.pvc.claimName }}
        readOnly: true
    {{- end }}
    {{- if $v.apiKeys.enabled }}
    - name: api-keys
      secret:
        secretName: {{ include "phalanx.apiKeysSecret" $root }}
    {{- end }}
    {{- if $v.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ $v.tls.secretName }}
        # r--r-----: the server refuses a private key others can read (docs/security.md).
        defaultMode: 0440
    {{- end }}
  {{- if $v.topologySpread.enabled }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: {{ $v.topologySpread.hostnameWhenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "phalanx.selectorLabels" $root | nindent 10 }}
          track: {{ .track }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: {{ $v.topologySpread.zoneWhenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "phalanx.selectorLabels" $root | nindent 10 }}
          track: {{ .track }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
