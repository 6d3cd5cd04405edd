package registry

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation of pod volumes and of the volume sources persistent volumes share with them.

// validateVolumes checks names and sources, and returns the volumes that passed, by
// name, for the mounts to be checked against. podName is "" for templates.
func validateVolumes(volumes []corev1.Volume, podName string, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	names := map[string]bool{}
	ephemeralPVCs := map[string]bool{}
	if podName != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				ephemeralPVCs[podName+"-"+v.Name] = true
			}
		}
	}
	ok := map[string]corev1.VolumeSource{}
	for i, v := range volumes {
		p := fldPath.Index(i)
		namePath := p.Child("name")
		el := validateVolumeSource(&v.VolumeSource, p, v.Name, podName)
		if v.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(v.Name, namePath)...)
		}
		if names[v.Name] {
			el = append(el, field.Duplicate(namePath, v.Name))
		}
		if len(el) == 0 {
			names[v.Name] = true
			ok[v.Name] = v.VolumeSource
		} else {
			errs = append(errs, el...)
		}
		if v.PersistentVolumeClaim != nil && ephemeralPVCs[v.PersistentVolumeClaim.ClaimName] {
			errs = append(errs, field.Invalid(p.Child("persistentVolumeClaim").Child("claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return ok, errs
}

// alternative is one of several fields of which exactly one may be set (a volume's
// sources, a probe's handlers): the path it is reported under when it is one too many,
// the path its own checks use (kube-apiserver spells a few differently), and those
// checks, nil when the field is not set.
type alternative struct {
	name, checkPath string
	check           func(p *field.Path) field.ErrorList
	// always: checked and counted even after another one (a persistent volume's
	// flexVolume, as kube-apiserver has it).
	always bool
}

// validateOneOf runs the checks of the first alternative set and reports any other as
// "may not specify more than 1 <kind>". It returns how many it counted.
func validateOneOf(alts []alternative, kind string, fldPath *field.Path) (n int, errs field.ErrorList) {
	for _, a := range alts {
		if a.check == nil {
			continue
		}
		if n > 0 && !a.always {
			errs = append(errs, field.Forbidden(fldPath.Child(a.name), "may not specify more than 1 "+kind))
			continue
		}
		n++
		errs = append(errs, a.check(fldPath.Child(a.checkPath))...)
	}
	return n, errs
}

// when returns check if set, else nil: the source is absent.
func when(set bool, check func(*field.Path) field.ErrorList) func(*field.Path) field.ErrorList {
	if !set {
		return nil
	}
	return check
}

func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path, volName, podName string) field.ErrorList {
	var errs field.ErrorList
	// The order is kube-apiserver's: it decides which of two sources is "one too many".
	types := []alternative{
		{name: "emptyDir", checkPath: "emptyDir", check: when(s.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		})},
		{name: "hostPath", checkPath: "hostPath", check: when(s.HostPath != nil, func(p *field.Path) field.ErrorList {
			return validateHostPath(s.HostPath, p)
		})},
		{name: "gitRepo", checkPath: "gitRepo", check: when(s.GitRepo != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.GitRepo.Repository == "" {
				errs = append(errs, field.Required(p.Child("repository"), ""))
			}
			return append(errs, validateLocalDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
		})},
		{name: "gcePersistentDisk", checkPath: "persistentDisk", check: when(s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateDiskID(s.GCEPersistentDisk.PDName, "pdName", s.GCEPersistentDisk.Partition, p)
		})},
		{name: "awsElasticBlockStore", checkPath: "awsElasticBlockStore", check: when(s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return validateDiskID(s.AWSElasticBlockStore.VolumeID, "volumeID", s.AWSElasticBlockStore.Partition, p)
		})},
		{name: "secret", checkPath: "secret", check: when(s.Secret != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.Secret.SecretName == "" {
				errs = append(errs, field.Required(p.Child("secretName"), ""))
			}
			errs = append(errs, validateFileMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
			for i := range s.Secret.Items {
				errs = append(errs, validateKeyToPath(&s.Secret.Items[i], p.Child("items").Index(i))...)
			}
			return errs
		})},
		{name: "nfs", checkPath: "nfs", check: when(s.NFS != nil, func(p *field.Path) field.ErrorList {
			return validateNFS(s.NFS, p)
		})},
		{name: "iscsi", checkPath: "iscsi", check: when(s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			return validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, s.ISCSI.DiscoveryCHAPAuth || s.ISCSI.SessionCHAPAuth,
				s.ISCSI.SecretRef != nil, s.ISCSI.InitiatorName, p)
		})},
		{name: "glusterfs", checkPath: "glusterfs", check: when(s.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return validateGlusterfs(s.Glusterfs.EndpointsName, s.Glusterfs.Path, p)
		})},
		{name: "flocker", checkPath: "flocker", check: when(s.Flocker != nil, func(p *field.Path) field.ErrorList {
			return validateFlocker(s.Flocker, p)
		})},
		{name: "persistentVolumeClaim", checkPath: "persistentVolumeClaim", check: when(s.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			if s.PersistentVolumeClaim.ClaimName == "" {
				return field.ErrorList{field.Required(p.Child("claimName"), "")}
			}
			return nil
		})},
		{name: "rbd", checkPath: "rbd", check: when(s.RBD != nil, func(p *field.Path) field.ErrorList {
			return validateRBD(s.RBD.CephMonitors, s.RBD.RBDImage, p)
		})},
		{name: "cinder", checkPath: "cinder", check: when(s.Cinder != nil, func(p *field.Path) field.ErrorList {
			return validateRequired(p, "volumeID", s.Cinder.VolumeID)
		})},
		{name: "cephFS", checkPath: "cephfs", check: when(s.CephFS != nil, func(p *field.Path) field.ErrorList {
			if len(s.CephFS.Monitors) == 0 {
				return field.ErrorList{field.Required(p.Child("monitors"), "")}
			}
			return nil
		})},
		{name: "quobyte", checkPath: "quobyte", check: when(s.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return validateQuobyte(s.Quobyte, p)
		})},
		// kube-apiserver misspells this path; a client matching on it sees the same.
		{name: "downwarAPI", checkPath: "downwardAPI", check: when(s.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			errs := validateFileMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for i := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&s.DownwardAPI.Items[i], p)...)
			}
			return errs
		})},
		{name: "fc", checkPath: "fc", check: when(s.FC != nil, func(p *field.Path) field.ErrorList {
			return validateFC(s.FC, p)
		})},
		{name: "flexVolume", checkPath: "flexVolume", check: when(s.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlex(s.FlexVolume.Driver, s.FlexVolume.Options, p)
		})},
		{name: "configMap", checkPath: "configMap", check: when(s.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
			errs = append(errs, validateFileMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
			for i := range s.ConfigMap.Items {
				errs = append(errs, validateKeyToPath(&s.ConfigMap.Items[i], p.Child("items").Index(i))...)
			}
			return errs
		})},
		{name: "azureFile", checkPath: "azureFile", check: when(s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return append(validateRequired(p, "secretName", s.AzureFile.SecretName), validateRequired(p, "shareName", s.AzureFile.ShareName)...)
		})},
		{name: "vsphereVolume", checkPath: "vsphereVolume", check: when(s.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return validateRequired(p, "volumePath", s.VsphereVolume.VolumePath)
		})},
		{name: "photonPersistentDisk", checkPath: "photonPersistentDisk", check: when(s.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateRequired(p, "pdID", s.PhotonPersistentDisk.PdID)
		})},
		{name: "portworxVolume", checkPath: "portworxVolume", check: when(s.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return validateRequired(p, "volumeID", s.PortworxVolume.VolumeID)
		})},
		{name: "azureDisk", checkPath: "azureDisk", check: when(s.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return validateAzureDisk(s.AzureDisk, p)
		})},
		{name: "storageos", checkPath: "storageos", check: when(s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return validateStorageOS(s.StorageOS.VolumeName, s.StorageOS.VolumeNamespace, p)
		})},
		{name: "projected", checkPath: "projected", check: when(s.Projected != nil, func(p *field.Path) field.ErrorList {
			return validateProjected(s.Projected, p)
		})},
		{name: "scaleIO", checkPath: "scaleIO", check: when(s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			errs := validateRequired(p, "gateway", s.ScaleIO.Gateway)
			errs = append(errs, validateRequired(p, "system", s.ScaleIO.System)...)
			return append(errs, validateRequired(p, "volumeName", s.ScaleIO.VolumeName)...)
		})},
		{name: "csi", checkPath: "csi", check: when(s.CSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			if ref := s.CSI.NodePublishSecretRef; ref != nil {
				if ref.Name == "" {
					errs = append(errs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
				} else {
					errs = append(errs, validateObjectName(ref.Name, nameIsSubdomain, p.Child("name"))...)
				}
			}
			return errs
		})},
		{name: "ephemeral", checkPath: "ephemeral", check: when(s.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if t := s.Ephemeral.VolumeClaimTemplate; t == nil {
				errs = append(errs, field.Required(p.Child("volumeClaimTemplate"), ""))
			} else {
				tp := p.Child("volumeClaimTemplate")
				errs = append(errs, validateTemplateObjectMeta(&t.ObjectMeta, tp.Child("metadata"))...)
				errs = append(errs, validatePVCSpec(&t.Spec, tp.Child("spec"))...)
			}
			if podName != "" && volName != "" {
				pvc := podName + "-" + volName
				for _, msg := range nameIsSubdomain(pvc, false) {
					errs = append(errs, field.Invalid(p.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvc, msg)))
				}
			}
			return errs
		})},
		{name: "image", checkPath: "image", check: when(s.Image != nil, func(p *field.Path) field.ErrorList {
			return validateRequired(p, "reference", s.Image.Reference)
		})},
	}
	n, errs := validateOneOf(types, "volume type", fldPath)
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

func validateRequired(p *field.Path, child, value string) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(p.Child(child), "")}
	}
	return nil
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func validateHostPath(h *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if h.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(h.Path, fldPath.Child("path"))
	if h.Type != nil && !slices.Contains(supportedHostPathTypes, *h.Type) {
		errs = append(errs, field.NotSupported(fldPath.Child("type"), h.Type, supportedHostPathTypes))
	}
	return errs
}

func validateDiskID(id, idField string, partition int32, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, idField, id)
	if partition < 0 || partition > 255 {
		errs = append(errs, field.Invalid(fldPath.Child("partition"), partition, validation.InclusiveRangeError(1, 255)))
	}
	return errs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	return append(errs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
}

func validateNFS(nfs *corev1.NFSVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, "server", nfs.Server)
	errs = append(errs, validateRequired(fldPath, "path", nfs.Path)...)
	if !path.IsAbs(nfs.Path) {
		errs = append(errs, field.Invalid(fldPath.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return errs
}

var (
	iqnRegex = regexp.MustCompile(`iqn\.\d{4}-\d{2}\.([[:alnum:]-.]+)(:[^,;*&$|\s]+)$`)
	euiRegex = regexp.MustCompile(`^eui.[[:alnum:]]{16}$`)
	naaRegex = regexp.MustCompile(`^naa.[[:alnum:]]{32}$`)
)

// iscsiNameError says what is wrong with an iSCSI qualified name, "" if nothing.
func iscsiNameError(name string) string {
	switch {
	case strings.HasPrefix(name, "iqn"):
		if !iqnRegex.MatchString(name) {
			return "must be valid format"
		}
	case strings.HasPrefix(name, "eui"):
		if !euiRegex.MatchString(name) {
			return "must be valid format"
		}
	case strings.HasPrefix(name, "naa"):
		if !naaRegex.MatchString(name) {
			return "must be valid format"
		}
	default:
		return "must be valid format starting with iqn, eui, or naa"
	}
	return ""
}

func validateISCSI(portal, iqn string, lun int32, chap, hasSecret bool, initiator *string, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, "targetPortal", portal)
	if iqn == "" {
		errs = append(errs, field.Required(fldPath.Child("iqn"), ""))
	} else if msg := iscsiNameError(iqn); msg != "" {
		errs = append(errs, field.Invalid(fldPath.Child("iqn"), iqn, msg))
	}
	if lun < 0 || lun > 255 {
		errs = append(errs, field.Invalid(fldPath.Child("lun"), lun, validation.InclusiveRangeError(0, 255)))
	}
	if chap && !hasSecret {
		errs = append(errs, field.Required(fldPath.Child("secretRef"), ""))
	}
	if initiator != nil {
		if msg := iscsiNameError(*initiator); msg != "" {
			errs = append(errs, field.Invalid(fldPath.Child("initiatorname"), *initiator, msg))
		}
	}
	return errs
}

func validateGlusterfs(endpoints, p string, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, "endpoints", endpoints)
	return append(errs, validateRequired(fldPath, "path", p)...)
}

func validateFlocker(f *corev1.FlockerVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.DatasetName == "" && f.DatasetUUID == "" {
		errs = append(errs, field.Required(fldPath, "one of datasetName and datasetUUID is required"))
	}
	if f.DatasetName != "" && f.DatasetUUID != "" {
		errs = append(errs, field.Invalid(fldPath, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(f.DatasetName, "/") {
		errs = append(errs, field.Invalid(fldPath.Child("datasetName"), f.DatasetName, "must not contain '/'"))
	}
	return errs
}

func validateRBD(monitors []string, image string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(monitors) == 0 {
		errs = append(errs, field.Required(fldPath.Child("monitors"), ""))
	}
	return append(errs, validateRequired(fldPath, "image", image)...)
}

func validateQuobyte(q *corev1.QuobyteVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Registry == "" {
		errs = append(errs, field.Required(fldPath.Child("registry"), "must be a host:port pair or multiple pairs separated by commas"))
	} else if len(q.Tenant) >= 65 {
		errs = append(errs, field.Required(fldPath.Child("tenant"), "must be a UUID and may not exceed a length of 64 characters"))
	} else {
		for _, hostPortPair := range strings.Split(q.Registry, ",") {
			if _, _, err := splitHostPort(hostPortPair); err != nil {
				errs = append(errs, field.Invalid(fldPath.Child("registry"), q.Registry, "must be a host:port pair or multiple pairs separated by commas"))
			}
		}
	}
	return append(errs, validateRequired(fldPath, "volume", q.Volume)...)
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", "", fmt.Errorf("missing port in address %q", s)
	}
	return s[:i], s[i+1:], nil
}

func validateFC(fc *corev1.FCVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(fc.TargetWWNs) < 1 && len(fc.WWIDs) < 1 {
		errs = append(errs, field.Required(fldPath.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		errs = append(errs, field.Invalid(fldPath.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			errs = append(errs, field.Required(fldPath.Child("lun"), "lun is required if targetWWNs is specified"))
		} else if *fc.Lun < 0 || *fc.Lun > 255 {
			errs = append(errs, field.Invalid(fldPath.Child("lun"), fc.Lun, validation.InclusiveRangeError(0, 255)))
		}
	}
	return errs
}

func validateFlex(driver string, options map[string]string, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, "driver", driver)
	for _, k := range sortedKeys(options) {
		ns := k
		if parts := strings.SplitN(k, "/", 2); len(parts) == 2 {
			ns = parts[0]
		}
		normalized := "." + strings.ToLower(ns)
		if strings.HasSuffix(normalized, ".kubernetes.io") || strings.HasSuffix(normalized, ".k8s.io") {
			errs = append(errs, field.Invalid(fldPath.Child("options").Key(k), k, "kubernetes.io and k8s.io namespaces are reserved"))
		}
	}
	return errs
}

func validateAzureDisk(d *corev1.AzureDiskVolumeSource, fldPath *field.Path) field.ErrorList {
	cachingModes := []corev1.AzureDataDiskCachingMode{corev1.AzureDataDiskCachingNone, corev1.AzureDataDiskCachingReadOnly, corev1.AzureDataDiskCachingReadWrite}
	kinds := []corev1.AzureDataDiskKind{corev1.AzureDedicatedBlobDisk, corev1.AzureManagedDisk, corev1.AzureSharedBlobDisk}
	errs := validateRequired(fldPath, "diskName", d.DiskName)
	errs = append(errs, validateRequired(fldPath, "diskURI", d.DataDiskURI)...)
	if d.CachingMode != nil && !slices.Contains(cachingModes, *d.CachingMode) {
		errs = append(errs, field.NotSupported(fldPath.Child("cachingMode"), *d.CachingMode, cachingModes))
	}
	if d.Kind != nil && !slices.Contains(kinds, *d.Kind) {
		errs = append(errs, field.NotSupported(fldPath.Child("kind"), *d.Kind, kinds))
	}
	if d.Kind != nil && *d.Kind == corev1.AzureManagedDisk && !strings.HasPrefix(d.DataDiskURI, "/subscriptions/") {
		errs = append(errs, field.NotSupported(fldPath.Child("diskURI"), d.DataDiskURI,
			[]string{"/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}"}))
	}
	if d.Kind != nil && *d.Kind != corev1.AzureManagedDisk && !strings.HasPrefix(d.DataDiskURI, "https://") {
		errs = append(errs, field.NotSupported(fldPath.Child("diskURI"), d.DataDiskURI,
			[]string{"https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd"}))
	}
	return errs
}

func validateStorageOS(volName, volNamespace string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if volName == "" {
		errs = append(errs, field.Required(fldPath.Child("volumeName"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(volName, fldPath.Child("volumeName"))...)
	}
	if volNamespace != "" {
		errs = append(errs, validateDNS1123Label(volNamespace, fldPath.Child("volumeNamespace"))...)
	}
	return errs
}

func validateCSIDriverName(driver string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if driver == "" {
		errs = append(errs, field.Required(fldPath, ""))
	}
	if len(driver) > 63 {
		errs = append(errs, field.TooLong(fldPath, "", 63))
	}
	errs = append(errs, invalidEach(fldPath, driver, validation.IsDNS1123Subdomain(strings.ToLower(driver)))...)
	return errs
}

var volumeDownwardAPIFieldPaths = []string{
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeDownwardAPIFieldPaths, fldPath.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, fldPath.Child("resourceFieldRef"), true)...)
	default:
		errs = append(errs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateFileMode(f.Mode, fldPath.Child("mode"))...)
}

func validateProjected(proj *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateFileMode(proj.DefaultMode, fldPath.Child("defaultMode"))
	paths := map[string]bool{}
	dupe := func(p, value string) {
		if paths[p] {
			errs = append(errs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		paths[p] = true
	}
	for i, src := range proj.Sources {
		n := 0
		srcPath := fldPath.Child("sources").Index(i)
		if s := src.Secret; s != nil {
			n++
			p := srcPath.Child("secret")
			if s.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
			for j := range s.Items {
				errs = append(errs, validateKeyToPath(&s.Items[j], p.Child("items").Index(j))...)
				if s.Items[j].Path != "" {
					dupe(s.Items[j].Path, s.Name)
				}
			}
		}
		if s := src.ConfigMap; s != nil {
			n++
			p := srcPath.Child("configMap")
			if s.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
			for j := range s.Items {
				errs = append(errs, validateKeyToPath(&s.Items[j], p.Child("items").Index(j))...)
				if s.Items[j].Path != "" {
					dupe(s.Items[j].Path, s.Name)
				}
			}
		}
		if s := src.DownwardAPI; s != nil {
			n++
			for j := range s.Items {
				errs = append(errs, validateDownwardAPIFile(&s.Items[j], srcPath.Child("downwardAPI"))...)
				if s.Items[j].Path != "" {
					dupe(s.Items[j].Path, s.Items[j].Path)
				}
			}
		}
		if s := src.ServiceAccountToken; s != nil {
			n++
			p := srcPath.Child("serviceAccountToken")
			exp := int64(0)
			if s.ExpirationSeconds != nil {
				exp = *s.ExpirationSeconds
			}
			if exp < 10*60 {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
			}
			if exp > 1<<32 {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
			}
			if s.Path == "" {
				errs = append(errs, field.Required(fldPath.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(s.Path, fldPath.Child("path"))...)
			}
		}
		if s := src.ClusterTrustBundle; s != nil {
			n++
			p := srcPath.Child("clusterTrustBundle")
			if s.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(s.Path, p.Child("path"))...)
			dupe(s.Path, s.Path)
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// validateLocalDescendingPath: relative, without "..".
func validateLocalDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(p, fldPath)...)
}

func validatePathNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		errs = append(errs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return errs
}

// validateTemplateObjectMeta: a claim template's metadata may carry labels and
// annotations, nothing else.
func validateTemplateObjectMeta(meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateAnnotations(meta.Annotations, fldPath.Child("annotations"))
	errs = append(errs, metav1validation.ValidateLabels(meta.Labels, fldPath.Child("labels"))...)
	for _, f := range setFieldsExcept(*meta, "Labels", "Annotations") {
		errs = append(errs, field.Forbidden(fldPath.Child(f), "cannot be set"))
	}
	return errs
}
