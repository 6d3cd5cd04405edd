package persistentvolume

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// findMatch is the volume claim should be bound to, or nil: one pre-bound to the claim
// (its claimRef names it) if there is one, else the smallest Available volume of the
// claim's class whose access modes include the claim's, whose capacity covers the
// request and whose labels match the claim's selector. Like kube-controller-manager's
// volume index, it looks at volumes with the fewest access modes first, so a claim for
// ReadWriteOnce does not take a volume that could also serve ReadWriteMany claims.
// delayBinding (a WaitForFirstConsumer class) leaves only pre-bound volumes.
func findMatch(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delayBinding bool) (*corev1.PersistentVolume, error) {
	groups := map[string][]*corev1.PersistentVolume{}
	var keys []string
	for _, v := range volumes {
		if !storagehelpers.CheckAccessModes(claim, v) {
			continue
		}
		k := modesKey(v.Spec.AccessModes)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], v)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		v, err := storagehelpers.FindMatchingVolume(claim, groups[k], nil, nil, delayBinding, false)
		if err != nil || v != nil {
			return v, err
		}
	}
	return nil, nil
}

// modesKey names a set of access modes, shorter for fewer modes.
func modesKey(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "O", corev1.ReadOnlyMany: "R", corev1.ReadWriteMany: "W", corev1.ReadWriteOncePod: "P",
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range modes {
		s, ok := short[m]
		if !ok {
			s = "?" + string(m)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	key := ""
	for _, s := range out {
		key += s
	}
	return key
}

// satisfies says why volume cannot serve claim, which asked for it by name
// (spec.volumeName), or "" if it can.
func satisfies(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) string {
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity, ok := volume.Spec.Capacity[corev1.ResourceStorage]
	if !ok {
		return "volume has no storage capacity"
	}
	if requested.Cmp(capacity) > 0 {
		return "requested PV is too small"
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return "storageClassName does not match"
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return "incompatible volumeMode"
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return "incompatible accessMode"
	}
	return ""
}

func claimKey(ns, name string) string { return fmt.Sprintf("%s/%s", ns, name) }
