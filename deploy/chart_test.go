package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

const chartDir = "helm/tiktok-events-worker"

// rendered is one release rendered from a values file, every object decoded.
type rendered struct {
	Deployment     *appsv1.Deployment
	ConfigMap      *corev1.ConfigMap
	Service        *corev1.Service
	PDB            *policyv1.PodDisruptionBudget
	ServiceMonitor *monitoringv1.ServiceMonitor
	ScaledObject   *scaledObject
	Kinds          []string
}

// scaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject the chart writes
// (KEDA's Go module is too heavy to import for one type). Decoding is strict, so a
// field the chart writes that is not here fails the test; the field names are
// KEDA's (https://keda.sh/docs/concepts/scaling-deployments/).
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name       string `json:"name"`
			Kind       string `json:"kind,omitempty"`
			APIVersion string `json:"apiVersion,omitempty"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name,omitempty"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// natsJetStreamMetadata are the keys KEDA's nats-jetstream scaler reads
// (https://keda.sh/docs/scalers/nats-jetstream/). A trigger's metadata is a free map
// in the CRD, so a misspelt key would be silently ignored by KEDA: the test checks it.
var natsJetStreamMetadata = map[string]bool{
	"natsServerMonitoringEndpoint": true, "account": true, "stream": true, "consumer": true,
	"lagThreshold": true, "activationLagThreshold": true, "useHttps": true,
}

// renderChart renders the chart for the values file as `helm template` would, with
// Helm's strict template mode (a reference to a value that does not exist fails).
func renderChart(t *testing.T, valuesFile string) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := chartutil.ReadValuesFile(valuesFile)
	if err != nil {
		t.Fatalf("read %s: %v", valuesFile, err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "tew", Namespace: "events", Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.Render(ch, rv)
}

// decodeAll decodes every rendered document strictly into its API type: an unknown or
// misspelt field, or a duplicated one, is an error naming the template.
func decodeAll(files map[string]string) (*rendered, error) {
	r := &rendered{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue // _helpers.tpl, NOTES.txt
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(files[name], -1) {
			if len(bytes.TrimSpace(stripComments([]byte(doc)))) == 0 {
				continue
			}
			if err := r.decode([]byte(doc)); err != nil {
				errs = append(errs, fmt.Errorf("%s (document %d): %w", name, i, err))
			}
		}
	}
	return r, errors.Join(errs...)
}

func stripComments(b []byte) []byte {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAll(b, nil)
}

func (r *rendered) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var into any
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		r.Deployment = &appsv1.Deployment{}
		into = r.Deployment
	case "v1/ConfigMap":
		r.ConfigMap = &corev1.ConfigMap{}
		into = r.ConfigMap
	case "v1/Service":
		r.Service = &corev1.Service{}
		into = r.Service
	case "policy/v1/PodDisruptionBudget":
		r.PDB = &policyv1.PodDisruptionBudget{}
		into = r.PDB
	case "monitoring.coreos.com/v1/ServiceMonitor":
		r.ServiceMonitor = &monitoringv1.ServiceMonitor{}
		into = r.ServiceMonitor
	case "keda.sh/v1alpha1/ScaledObject":
		r.ScaledObject = &scaledObject{}
		into = r.ScaledObject
	default:
		return fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	r.Kinds = append(r.Kinds, tm.Kind)
	return yaml.UnmarshalStrict(doc, into)
}

// workerConfig parses the rendered config.yaml with the worker's own loader, as `worker
// run` would inside the pod: the Secret's mount is replaced by a file holding a token.
func (r *rendered) workerConfig(t *testing.T) (*config.Config, error) {
	t.Helper()
	if r.ConfigMap == nil {
		t.Fatal("no ConfigMap rendered")
	}
	data := r.ConfigMap.Data["config.yaml"]
	dir := t.TempDir()
	for _, v := range r.Deployment.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, m := range r.Deployment.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.Name != v.Name {
				continue
			}
			local := filepath.Join(dir, v.Name)
			if err := os.MkdirAll(local, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, it := range v.Secret.Items {
				if err := os.WriteFile(filepath.Join(local, it.Path), []byte("secret-from-"+v.Secret.SecretName), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			data = strings.ReplaceAll(data, m.MountPath+"/", local+"/")
		}
	}
	cfg, err := config.Parse([]byte(data), func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	return cfg, cfg.CheckRun()
}

func TestChartRendersValidObjects(t *testing.T) {
	tests := []struct {
		values       string
		wantKinds    []string
		replicas     int32 // the Deployment's, 0 when KEDA owns it
		workerReps   int   // delivery.worker_replicas in the config
		natsURL      string
		natsReplicas int
		creds, nkey  bool
		lagThreshold string // every trigger's, "" without KEDA
		stream       string
	}{
		{values: "minimal.yaml", wantKinds: []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"},
			replicas: 2, workerReps: 2, natsURL: "nats://nats:4222", natsReplicas: 1},
		{values: "keda.yaml", wantKinds: []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Service"},
			workerReps: 8, natsURL: "nats://nats:4222", natsReplicas: 1, creds: true, lagThreshold: "2500", stream: "TIKTOK_ROWS"},
		{values: "servicemonitor.yaml", wantKinds: []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor"},
			replicas: 2, workerReps: 2, natsURL: "nats://nats:4222", natsReplicas: 1, nkey: true},
		{values: "cluster.yaml", wantKinds: []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Service"},
			workerReps: 4, natsReplicas: 3, creds: true, lagThreshold: "5000", stream: "ACME_EVENTS_ROWS",
			natsURL: "nats://nats-0.nats-headless:4222,nats://nats-1.nats-headless:4222,nats://nats-2.nats-headless:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.values, func(t *testing.T) {
			files, err := renderChart(t, filepath.Join("testdata", "values", tt.values))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			r, err := decodeAll(files)
			if err != nil {
				t.Fatalf("strict decoding: %v", err)
			}
			sort.Strings(r.Kinds)
			if strings.Join(r.Kinds, ",") != strings.Join(tt.wantKinds, ",") {
				t.Errorf("rendered %v, want %v", r.Kinds, tt.wantKinds)
			}
			cfg, err := r.workerConfig(t)
			if err != nil {
				t.Fatalf("the worker's config loader refuses the rendered config.yaml: %v\n%s", err, r.ConfigMap.Data["config.yaml"])
			}

			checkDeployment(t, r, cfg, tt.replicas)
			if cfg.NATS.URL != tt.natsURL || cfg.NATS.Replicas != tt.natsReplicas {
				t.Errorf("nats.url %q replicas %d, want %q and %d", cfg.NATS.URL, cfg.NATS.Replicas, tt.natsURL, tt.natsReplicas)
			}
			if (cfg.NATS.CredsFile != "") != tt.creds || (cfg.NATS.NKeyFile != "") != tt.nkey {
				t.Errorf("nats.creds_file %q nkey_file %q, want creds %v nkey %v", cfg.NATS.CredsFile, cfg.NATS.NKeyFile, tt.creds, tt.nkey)
			}
			if cfg.Delivery.Replicas != tt.workerReps {
				t.Errorf("delivery.worker_replicas = %d, want %d", cfg.Delivery.Replicas, tt.workerReps)
			}
			if cfg.HTTP.Listen != "0.0.0.0:8080" {
				t.Errorf("http.listen = %q: the probes and Prometheus reach the pod on 8080", cfg.HTTP.Listen)
			}

			if r.ScaledObject != nil {
				checkScaledObject(t, r, cfg, tt.lagThreshold, tt.stream)
			} else if tt.lagThreshold != "" {
				t.Error("no ScaledObject rendered")
			}
			if r.ServiceMonitor != nil {
				ep := r.ServiceMonitor.Spec.Endpoints
				if len(ep) != 1 || ep[0].Port != "http" || ep[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoints %+v, want port http path /metrics", ep)
				}
				if !labelsSelect(r.ServiceMonitor.Spec.Selector.MatchLabels, r.Service.Labels) {
					t.Errorf("ServiceMonitor selector %v does not select the metrics Service %v", r.ServiceMonitor.Spec.Selector.MatchLabels, r.Service.Labels)
				}
			}
			if !labelsSelect(r.PDB.Spec.Selector.MatchLabels, r.Deployment.Spec.Template.Labels) ||
				!labelsSelect(r.Service.Spec.Selector, r.Deployment.Spec.Template.Labels) {
				t.Error("the PDB or the metrics Service does not select the worker's pods")
			}
		})
	}
}

func accountsConf(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func labelsSelect(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkDeployment checks what issue 11 asks of the pod.
func checkDeployment(t *testing.T, r *rendered, cfg *config.Config, replicas int32) {
	t.Helper()
	d := r.Deployment
	if replicas == 0 && d.Spec.Replicas != nil {
		t.Errorf("spec.replicas %d is set while KEDA scales the Deployment (they would fight)", *d.Spec.Replicas)
	}
	if replicas != 0 && (d.Spec.Replicas == nil || *d.Spec.Replicas != replicas) {
		t.Errorf("spec.replicas = %v, want %d", d.Spec.Replicas, replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the container's root filesystem is not read-only")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation is not disabled")
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 || sc.Capabilities.Drop[0] != "ALL":
		t.Error("capabilities are not all dropped")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", p)
	}
	grace := pod.TerminationGracePeriodSeconds
	if grace == nil || float64(*grace) <= cfg.Delivery.DrainTimeout.D().Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v is not longer than delivery.drain_timeout %s: Kubernetes would kill a draining replica", grace, cfg.Delivery.DrainTimeout.D())
	}
	// The token comes from a Secret mounted as a file, never from a value or the env.
	if cfg.TikTok.AccessTokenFile == "" || !strings.HasPrefix(cfg.TikTok.AccessToken, "secret-from-") {
		t.Errorf("the access token does not come from the mounted Secret (access_token_file %q)", cfg.TikTok.AccessTokenFile)
	}
	for _, e := range c.Env {
		if strings.Contains(strings.ToUpper(e.Name), "TOKEN") && e.Value != "" {
			t.Errorf("env %s carries a literal value", e.Name)
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("secret volume %s is readable by others (defaultMode %v)", v.Name, v.Secret.DefaultMode)
		}
	}
}

func checkScaledObject(t *testing.T, r *rendered, cfg *config.Config, lagThreshold, stream string) {
	t.Helper()
	so := r.ScaledObject.Spec
	if so.ScaleTargetRef.Name != r.Deployment.Name {
		t.Errorf("scaleTargetRef %q, want the Deployment %q", so.ScaleTargetRef.Name, r.Deployment.Name)
	}
	// The consumer's max_ack_pending is sized for every replica KEDA may start.
	if so.MaxReplicaCount == nil || int(*so.MaxReplicaCount) != cfg.Delivery.Replicas {
		t.Errorf("maxReplicaCount %v, want delivery.worker_replicas %d", so.MaxReplicaCount, cfg.Delivery.Replicas)
	}
	names := broker.NamesFor(cfg.NATS.SubjectPrefix)
	if names.RowsStream != stream {
		t.Fatalf("test table: stream %q, broker.NamesFor says %q", stream, names.RowsStream)
	}
	if len(so.Triggers) != len(cfg.Destinations) {
		t.Fatalf("%d triggers for %d destinations", len(so.Triggers), len(cfg.Destinations))
	}
	for i, tr := range so.Triggers {
		if tr.Type != "nats-jetstream" {
			t.Errorf("trigger %d type %q", i, tr.Type)
		}
		for k := range tr.Metadata {
			if !natsJetStreamMetadata[k] {
				t.Errorf("trigger %d: metadata %q is not a key of KEDA's nats-jetstream scaler", i, k)
			}
		}
		want := map[string]string{
			"stream":       names.RowsStream,
			"consumer":     names.ConsumerName(cfg.Destinations[i].Name),
			"lagThreshold": lagThreshold,
		}
		for k, v := range want {
			if tr.Metadata[k] != v {
				t.Errorf("trigger %d: %s = %q, want %q", i, k, tr.Metadata[k], v)
			}
		}
		if tr.Metadata["natsServerMonitoringEndpoint"] == "" {
			t.Errorf("trigger %d lacks the monitoring endpoint: %v", i, tr.Metadata)
		}
		// KEDA reads the consumer under this account: the one of nats/accounts.conf
		// that holds the streams.
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(tr.Metadata["account"]) + ` \{\n    jetstream: enabled`).Match(accountsConf(t)) {
			t.Errorf("trigger %d: account %q is not the JetStream account of nats/accounts.conf", i, tr.Metadata["account"])
		}
	}
}

// TestChartRejects: values that must not produce a deployable release — a typo in a
// field passed to Kubernetes (caught by strict decoding), a typo in the worker's
// config (caught by its loader), a token in values, and missing required values.
func TestChartRejects(t *testing.T) {
	tests := []struct {
		name   string
		file   string // under testdata/invalid, or "" for extra
		extra  string // values YAML written to a temp file
		stage  string // "render", "decode" or "config"
		errHas string
	}{
		{name: "typo in the pod's securityContext", file: "typo-security-context.yaml", stage: "decode", errHas: "runAsNonRot"},
		{name: "typo in resources", file: "typo-resources.yaml", stage: "decode", errHas: "request"},
		{name: "typo in the worker config", file: "typo-config.yaml", stage: "config", errHas: "delivery.batch_sise"},
		{name: "no token Secret", extra: "config:\n  destinations: [{name: a}]\n", stage: "render", errHas: "tiktok.accessToken.existingSecret"},
		{name: "the token in values", extra: "tiktok:\n  accessToken: {existingSecret: s}\nconfig:\n  tiktok: {access_token: abc}\n  destinations: [{name: a}]\n", stage: "render", errHas: "config.tiktok.access_token is set by the chart"},
		{name: "no destination", extra: "tiktok:\n  accessToken: {existingSecret: s}\n", stage: "render", errHas: "config.destinations is empty"},
		{name: "chart-owned key in config", extra: "tiktok:\n  accessToken: {existingSecret: s}\nconfig:\n  nats: {url: nats://x:4222}\n  destinations: [{name: a}]\n", stage: "render", errHas: "config.nats.url is set by the chart"},
		{name: "creds and nkey both", extra: "tiktok:\n  accessToken: {existingSecret: s}\nnats:\n  credentials: {secretName: a}\n  nkey: {secretName: b}\nconfig:\n  destinations: [{name: a}]\n", stage: "render", errHas: "choose one"},
		{name: "KEDA max below min", extra: "tiktok:\n  accessToken: {existingSecret: s}\nkeda: {enabled: true, minReplicaCount: 3, maxReplicaCount: 2}\nconfig:\n  destinations: [{name: a}]\n", stage: "render", errHas: "keda.maxReplicaCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file)
			if tt.file == "" {
				path = filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(path, []byte(tt.extra), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stage := "render"
			files, err := renderChart(t, path)
			var r *rendered
			if err == nil {
				stage = "decode"
				r, err = decodeAll(files)
			}
			if err == nil {
				stage = "config"
				_, err = r.workerConfig(t)
			}
			if err == nil {
				t.Fatalf("accepted; want a %s error mentioning %q", tt.stage, tt.errHas)
			}
			if stage != tt.stage || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("%s error %v; want a %s error mentioning %q", stage, err, tt.stage, tt.errHas)
			}
		})
	}
}

// TestChartValuesHoldNoSecret: the chart's own values.yaml has no key that could carry
// a secret's value (token, password, seed), only names of Secrets.
func TestChartValuesHoldNoSecret(t *testing.T) {
	vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, sub := range m {
			p := strings.TrimPrefix(path+"."+k, ".")
			low := strings.ToLower(k)
			if _, isMap := sub.(map[string]any); !isMap && regexp.MustCompile(`token|password|^secret$|seed|jwt|creds$`).MatchString(low) {
				t.Errorf("values.yaml %s looks like it holds a secret", p)
			}
			walk(p, sub)
		}
	}
	walk("", vals.AsMap())
}
