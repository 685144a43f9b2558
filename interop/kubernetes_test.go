package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kubeDir holds the Kubernetes manifests docs/region.md describes.
const kubeDir = "../deploy/kubernetes"

// kustomization is the part of kustomize's file this directory uses;
// decoding it strictly catches a misspelled field.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
}

// kubeObjects decodes every manifest the kustomization lists into its
// typed Kubernetes API object, strictly: an unknown or misspelled field,
// or a value of the wrong type, fails.
func kubeObjects(t *testing.T) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("kustomization.yaml: kind %q with %d resources", k.Kind, len(k.Resources))
	}
	listed := map[string]bool{"kustomization.yaml": true}
	var objs []any
	for _, res := range k.Resources {
		listed[res] = true
		b, err := os.ReadFile(filepath.Join(kubeDir, res))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s document %d: %v", res, i, err)
			}
			var obj any
			switch meta.APIVersion + " " + meta.Kind {
			case "v1 Service":
				obj = &corev1.Service{}
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			default:
				t.Fatalf("%s document %d: %s %s: not a kind this test knows; add it", res, i, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", res, i, meta.Kind, err)
			}
			objs = append(objs, obj)
		}
	}
	entries, _ := os.ReadDir(kubeDir)
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("%s is not in kustomization.yaml's resources", e.Name())
		}
	}
	return objs
}

// TestKubernetesManifests checks deploy/kubernetes without a cluster: each
// manifest decodes strictly into its API type, the pieces fit together
// (selectors, ports, volumes), and the relay's arguments, with the
// pod's environment filled in as the kubelet would, pass relayctl's own
// `config validate` for every pod of the StatefulSet.
func TestKubernetesManifests(t *testing.T) {
	objs := kubeObjects(t)
	var sts *appsv1.StatefulSet
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.StatefulSet:
			sts = o
		case *corev1.Service:
			services[o.Name] = o
		}
	}
	if sts == nil || sts.Spec.Replicas == nil {
		t.Fatal("no StatefulSet with replicas")
	}
	if _, ok := services[sts.Spec.ServiceName]; !ok {
		t.Errorf("StatefulSet serviceName %q: no such Service", sts.Spec.ServiceName)
	}
	pod := sts.Spec.Template
	for k, v := range sts.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("StatefulSet selector %s=%s does not match its pod template", k, v)
		}
	}
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range sts.Spec.VolumeClaimTemplates {
		volumes[c.Name] = true
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("container %s mounts volume %q, which is not defined", c.Name, m.Name)
			}
		}
	}

	bin := binaryFor(t, relayctlServer)
	var relay *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "relayctl" {
			relay = &pod.Spec.Containers[i]
		}
	}
	if relay == nil || len(relay.Args) == 0 || relay.Args[0] != "serve" {
		t.Fatal("no relayctl container running serve")
	}
	ports := map[string]bool{}
	for _, p := range relay.Ports {
		ports[p.Name] = true
	}
	if p := relay.ReadinessProbe; p != nil && p.HTTPGet != nil && !ports[p.HTTPGet.Port.String()] {
		t.Errorf("readiness probe port %q is not a container port", p.HTTPGet.Port.String())
	}
	for i := range int(*sts.Spec.Replicas) {
		podName := fmt.Sprintf("%s-%d", sts.Name, i)
		if svc, ok := services[podName]; !ok || svc.Spec.Selector["statefulset.kubernetes.io/pod-name"] != podName {
			t.Errorf("no public Service selecting pod %s", podName)
		}
		t.Run(podName, func(t *testing.T) {
			env := map[string]string{}
			for _, e := range relay.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
					env[e.Name] = podName
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
				}
			}
			// $(VAR) in args is filled in from the container's environment.
			args := []string{"config", "validate"}
			for _, a := range relay.Args[1:] {
				args = append(args, regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(m string) string {
					return env[m[2:len(m)-1]]
				}))
			}
			cmd := exec.Command(bin, args...)
			state := t.TempDir()
			cmd.Env = []string{"HOME=" + state, "XDG_CONFIG_HOME=" + filepath.Join(state, "config")}
			for k, v := range env {
				if k == "STATE_DIRECTORY" {
					v = state // the volume's mount point, here
				}
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("relayctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "configuration is valid") {
				t.Errorf("relayctl %s:\n%s", strings.Join(args, " "), stderr.String())
			}
		})
	}
}
