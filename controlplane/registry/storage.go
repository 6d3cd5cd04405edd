package registry

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// Persistent volumes, their claims and storage classes.

func init() {
	rules[*corev1.PersistentVolume]{
		Default:                defaultPV,
		PrepareForCreate:       preparePVCreate,
		PrepareForUpdate:       preparePVUpdate,
		PrepareForStatusUpdate: preparePVStatusUpdate,
		Validate:               validatePV,
		ValidateUpdate:         validatePVUpdate,
		ValidateStatusUpdate:   validatePVStatusUpdate,
		Fields: func(pv *corev1.PersistentVolume) fields.Set {
			return fields.Set{"name": pv.Name} // the legacy spelling of metadata.name
		},
		KubeFinalizers: true,
	}.set(PersistentVolumes)

	rules[*corev1.PersistentVolumeClaim]{
		Default: func(pvc *corev1.PersistentVolumeClaim) {
			if pvc.Status.Phase == "" {
				pvc.Status.Phase = corev1.ClaimPending
			}
			defaultPVCSpec(&pvc.Spec)
			defaultResourceList(pvc.Status.Capacity)
			defaultResourceList(pvc.Status.AllocatedResources)
		},
		PrepareForCreate: func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			dropDisabledPVCFields(&pvc.Spec, nil)
			normalizeDataSources(&pvc.Spec)
		},
		PrepareForUpdate: func(pvc, old *corev1.PersistentVolumeClaim) {
			dropDisabledPVCFields(&pvc.Spec, &old.Spec)
			normalizeDataSources(&pvc.Spec)
		},
		Validate:             validatePVC,
		ValidateUpdate:       validatePVCUpdate,
		ValidateStatusUpdate: validatePVCStatusUpdate,
		Fields: func(pvc *corev1.PersistentVolumeClaim) fields.Set {
			return fields.Set{"name": pvc.Name}
		},
		KubeFinalizers: true,
	}.set(PersistentVolumeClaims)

	rules[*storagev1.StorageClass]{
		Default: func(sc *storagev1.StorageClass) {
			if sc.ReclaimPolicy == nil {
				sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimDelete)
			}
			if sc.VolumeBindingMode == nil {
				sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
			}
		},
		Validate:       validateStorageClass,
		ValidateUpdate: validateStorageClassUpdate,
		KubeFinalizers: true,
	}.set(StorageClasses)
}

func defaultPV(pv *corev1.PersistentVolume) {
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
	defaultResourceList(pv.Spec.Capacity)
	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptr.To(corev1.HostPathUnset)
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.AzureDisk != nil {
		defaultAzureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
}

func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
	defaultResourceList(spec.Resources.Limits)
	defaultResourceList(spec.Resources.Requests)
}

// A new volume is Pending until the persistent volume controller makes it Available.
func preparePVCreate(pv *corev1.PersistentVolume) {
	t := now()
	pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &t}
	dropDisabledPVFields(&pv.Spec, nil)
}

func preparePVUpdate(pv, old *corev1.PersistentVolume) {
	dropDisabledPVFields(&pv.Spec, &old.Spec)
}

// preparePVStatusUpdate stamps the time of a phase change, unless the writer did.
func preparePVStatusUpdate(pv, old *corev1.PersistentVolume) {
	switch {
	case old.Status.Phase == pv.Status.Phase && pv.Status.LastPhaseTransitionTime == nil:
		pv.Status.LastPhaseTransitionTime = old.Status.LastPhaseTransitionTime
	case old.Status.Phase != pv.Status.Phase &&
		(pv.Status.LastPhaseTransitionTime == nil || pv.Status.LastPhaseTransitionTime.Equal(old.Status.LastPhaseTransitionTime)):
		t := now()
		pv.Status.LastPhaseTransitionTime = &t
	}
}

// VolumeAttributesClass is off by default in kube-apiserver v1.32, so its field is
// dropped unless the old object already used it.
func dropDisabledPVFields(spec, old *corev1.PersistentVolumeSpec) {
	if old == nil || old.VolumeAttributesClassName == nil {
		spec.VolumeAttributesClassName = nil
	}
}

func dropDisabledPVCFields(spec, old *corev1.PersistentVolumeClaimSpec) {
	if old == nil || old.VolumeAttributesClassName == nil {
		spec.VolumeAttributesClassName = nil
	}
}

// normalizeDataSources keeps dataSource and dataSourceRef the same when only one was
// given and it can be written both ways, as kube-apiserver does.
func normalizeDataSources(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.DataSource != nil && spec.DataSourceRef == nil {
		spec.DataSourceRef = &corev1.TypedObjectReference{
			APIGroup: spec.DataSource.APIGroup, Kind: spec.DataSource.Kind, Name: spec.DataSource.Name,
		}
	}
	if spec.DataSourceRef != nil && spec.DataSource == nil &&
		(spec.DataSourceRef.Namespace == nil || *spec.DataSourceRef.Namespace == "") {
		spec.DataSource = &corev1.TypedLocalObjectReference{
			APIGroup: spec.DataSourceRef.APIGroup, Kind: spec.DataSourceRef.Kind, Name: spec.DataSourceRef.Name,
		}
	}
}

var (
	accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	pvReclaims  = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	volumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rwop, other := false, false
	for _, m := range modes {
		if !slices.Contains(accessModes, m) {
			errs = append(errs, field.NotSupported(fldPath, m, accessModes))
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else if slices.Contains(accessModes, m) {
			other = true
		}
	}
	if rwop && other {
		errs = append(errs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	return validatePVSpec(&pv.Spec, pv.Name, field.NewPath("spec"))
}

func validatePVSpec(spec *corev1.PersistentVolumeSpec, pvName string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(fldPath.Child("accessModes"), ""))
	}
	errs = append(errs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(fldPath.Child("capacity"), ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(fldPath.Child("capacity"), spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedKeys(spec.Capacity) {
		p := fldPath.Child("capacity").Key(string(name))
		errs = append(errs, validateBasicResource(spec.Capacity[name], p)...)
		errs = append(errs, validatePositiveQuantity(spec.Capacity[name], p)...)
	}
	if spec.PersistentVolumeReclaimPolicy != "" && !slices.Contains(pvReclaims, spec.PersistentVolumeReclaimPolicy) {
		errs = append(errs, field.NotSupported(fldPath.Child("persistentVolumeReclaimPolicy"), spec.PersistentVolumeReclaimPolicy, pvReclaims))
	}
	nodeAffinity := false
	if na := spec.NodeAffinity; na != nil {
		nodeAffinity = true
		p := fldPath.Child("nodeAffinity")
		if na.Required == nil {
			errs = append(errs, field.Required(p.Child("required"), "must specify required node constraints"))
		} else {
			tp := p.Child("required").Child("nodeSelectorTerms")
			if len(na.Required.NodeSelectorTerms) == 0 {
				errs = append(errs, field.Required(tp, "must have at least one node selector term"))
			}
			for i, term := range na.Required.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(term, true, tp.Index(i))...)
			}
		}
	}
	s := &spec.PersistentVolumeSource
	types := []alternative{
		{name: "hostPath", checkPath: "hostPath", check: when(s.HostPath != nil, func(p *field.Path) field.ErrorList {
			return validateHostPath(s.HostPath, p)
		})},
		{name: "gcePersistentDisk", checkPath: "persistentDisk", check: when(s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateDiskID(s.GCEPersistentDisk.PDName, "pdName", s.GCEPersistentDisk.Partition, p)
		})},
		{name: "awsElasticBlockStore", checkPath: "awsElasticBlockStore", check: when(s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return validateDiskID(s.AWSElasticBlockStore.VolumeID, "volumeID", s.AWSElasticBlockStore.Partition, p)
		})},
		{name: "glusterfs", checkPath: "glusterfs", check: when(s.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			errs := validateGlusterfs(s.Glusterfs.EndpointsName, s.Glusterfs.Path, p)
			if ns := s.Glusterfs.EndpointsNamespace; ns != nil {
				if *ns == "" {
					errs = append(errs, field.Invalid(p.Child("endpointsNamespace"), *ns, "if the endpointnamespace is set, it must be a valid namespace name"))
				} else {
					errs = append(errs, validateObjectName(*ns, nameIsLabel, p.Child("endpointsNamespace"))...)
				}
			}
			return errs
		})},
		{name: "flocker", checkPath: "flocker", check: when(s.Flocker != nil, func(p *field.Path) field.ErrorList {
			return validateFlocker(s.Flocker, p)
		})},
		{name: "nfs", checkPath: "nfs", check: when(s.NFS != nil, func(p *field.Path) field.ErrorList {
			return validateNFS(s.NFS, p)
		})},
		{name: "rbd", checkPath: "rbd", check: when(s.RBD != nil, func(p *field.Path) field.ErrorList {
			return validateRBD(s.RBD.CephMonitors, s.RBD.RBDImage, p)
		})},
		{name: "quobyte", checkPath: "quobyte", check: when(s.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return validateQuobyte(s.Quobyte, p)
		})},
		{name: "cephFS", checkPath: "cephfs", check: when(s.CephFS != nil, func(p *field.Path) field.ErrorList {
			if len(s.CephFS.Monitors) == 0 {
				return field.ErrorList{field.Required(p.Child("monitors"), "")}
			}
			return nil
		})},
		{name: "iscsi", checkPath: "iscsi", check: when(s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.ISCSI.InitiatorName != nil && len(pvName+":"+s.ISCSI.TargetPortal) > 64 {
				errs = append(errs, field.Invalid(p.Child("targetportal"), s.ISCSI.TargetPortal,
					"Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			errs = append(errs, validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, s.ISCSI.DiscoveryCHAPAuth || s.ISCSI.SessionCHAPAuth,
				s.ISCSI.SecretRef != nil, s.ISCSI.InitiatorName, p)...)
			if s.ISCSI.SecretRef != nil && s.ISCSI.SecretRef.Name == "" {
				errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
			}
			return errs
		})},
		{name: "cinder", checkPath: "cinder", check: when(s.Cinder != nil, func(p *field.Path) field.ErrorList {
			errs := validateRequired(p, "volumeID", s.Cinder.VolumeID)
			if ref := s.Cinder.SecretRef; ref != nil {
				errs = append(errs, validateRequired(p.Child("secretRef"), "name", ref.Name)...)
				errs = append(errs, validateRequired(p.Child("secretRef"), "namespace", ref.Namespace)...)
			}
			return errs
		})},
		{name: "fc", checkPath: "fc", check: when(s.FC != nil, func(p *field.Path) field.ErrorList {
			return validateFC(s.FC, p)
		})},
		{name: "flexVolume", checkPath: "flexVolume", always: true, check: when(s.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return validateFlex(s.FlexVolume.Driver, s.FlexVolume.Options, p)
		})},
		{name: "azureFile", checkPath: "azureFile", check: when(s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			errs := append(validateRequired(p, "secretName", s.AzureFile.SecretName), validateRequired(p, "shareName", s.AzureFile.ShareName)...)
			if ns := s.AzureFile.SecretNamespace; ns != nil && *ns == "" {
				errs = append(errs, field.Required(p.Child("secretNamespace"), ""))
			}
			return errs
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
		{name: "scaleIO", checkPath: "scaleIO", check: when(s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			errs := validateRequired(p, "gateway", s.ScaleIO.Gateway)
			errs = append(errs, validateRequired(p, "system", s.ScaleIO.System)...)
			return append(errs, validateRequired(p, "volumeName", s.ScaleIO.VolumeName)...)
		})},
		{name: "local", checkPath: "local", check: when(s.Local != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.Local.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, validatePathNoBacksteps(s.Local.Path, p.Child("path"))...)
			}
			if !nodeAffinity {
				errs = append(errs, field.Required(fldPath.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			return errs
		})},
		{name: "storageos", checkPath: "storageos", check: when(s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			errs := validateStorageOS(s.StorageOS.VolumeName, s.StorageOS.VolumeNamespace, p)
			if ref := s.StorageOS.SecretRef; ref != nil {
				errs = append(errs, validateRequired(p.Child("secretRef"), "name", ref.Name)...)
				errs = append(errs, validateRequired(p.Child("secretRef"), "namespace", ref.Namespace)...)
			}
			return errs
		})},
		{name: "csi", checkPath: "csi", check: when(s.CSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			errs = append(errs, validateRequired(p, "volumeHandle", s.CSI.VolumeHandle)...)
			for _, ref := range []struct {
				name string
				ref  *corev1.SecretReference
			}{
				{"controllerPublishSecretRef", s.CSI.ControllerPublishSecretRef},
				{"controllerExpandSecretRef", s.CSI.ControllerExpandSecretRef},
				{"nodePublishSecretRef", s.CSI.NodePublishSecretRef},
				{"nodeExpandSecretRef", s.CSI.NodeExpandSecretRef},
			} {
				if ref.ref != nil {
					errs = append(errs, validatePVSecretReference(ref.ref, p.Child(ref.name))...)
				}
			}
			return errs
		})},
	}
	n, srcErrs := validateOneOf(types, "volume type", fldPath)
	errs = append(errs, srcErrs...)
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	if s.HostPath != nil && path.Clean(s.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		errs = append(errs, field.Forbidden(fldPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validateObjectName(spec.StorageClassName, nameIsSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !slices.Contains(volumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, volumeModes))
	}
	return errs
}

func validatePVSecretReference(ref *corev1.SecretReference, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(ref.Name, fldPath.Child("name"))...)
	}
	if ref.Namespace == "" {
		errs = append(errs, field.Required(fldPath.Child("namespace"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(ref.Namespace, fldPath.Child("namespace"))...)
	}
	return errs
}

func validatePVUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := validatePV(pv)
	newSource := pv.Spec.PersistentVolumeSource
	// A CSI volume may gain the secret it is expanded with.
	if old.Spec.CSI != nil && old.Spec.CSI.ControllerExpandSecretRef == nil && newSource.CSI != nil && newSource.CSI.ControllerExpandSecretRef != nil {
		csi := *newSource.CSI
		csi.ControllerExpandSecretRef = nil
		newSource.CSI = &csi
	}
	if !apiequality.Semantic.DeepEqual(newSource, old.Spec.PersistentVolumeSource) {
		diff := cmp.Diff(old.Spec.PersistentVolumeSource, newSource)
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff)))
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if old.Spec.NodeAffinity != nil && !apiequality.Semantic.DeepEqual(pv.Spec.NodeAffinity, old.Spec.NodeAffinity) {
		errs = append(errs, field.Invalid(field.NewPath("nodeAffinity"), pv.Spec.NodeAffinity, fieldImmutableErrorMsg+", except for updating from beta label to GA"))
	}
	return errs
}

func validatePVStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	return nil
}

func validatePVC(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	return validatePVCSpec(&pvc.Spec, field.NewPath("spec"))
}

func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	errs = append(errs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)
	// kube-apiserver reports the storage request as spec.resources[storage].
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if e := validatePositiveQuantity(q, storagePath); len(e) > 0 {
		errs = append(errs, e...)
	} else {
		errs = append(errs, validateResourceQuantity(corev1.ResourceStorage, q, storagePath)...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, validateObjectName(*spec.StorageClassName, nameIsSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !slices.Contains(volumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, volumeModes))
	}
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, fldPath.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		p := fldPath.Child("dataSourceRef")
		errs = append(errs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, p)...)
		if ref.Namespace != nil && *ref.Namespace != "" {
			errs = append(errs, validateObjectName(*ref.Namespace, nameIsLabel, p.Child("namespace"))...)
		}
	}
	if ref := spec.DataSourceRef; ref != nil && ref.Namespace != nil && *ref.Namespace != "" {
		if spec.DataSource != nil {
			errs = append(errs, field.Invalid(fldPath, fldPath.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
		}
	} else if spec.DataSource != nil && spec.DataSourceRef != nil {
		ds, ref := spec.DataSource, spec.DataSourceRef
		if !reflect.DeepEqual(ds.APIGroup, ref.APIGroup) || ds.Kind != ref.Kind || ds.Name != ref.Name {
			errs = append(errs, field.Invalid(fldPath, fldPath.Child("dataSource"), "must match dataSourceRef"))
		}
	}
	return errs
}

func validateDataSource(name, kind string, apiGroup *string, fldPath *field.Path) field.ErrorList {
	errs := validateRequired(fldPath, "name", name)
	errs = append(errs, validateRequired(fldPath, "kind", kind)...)
	group := ptr.Deref(apiGroup, "")
	if group == "" && kind != "PersistentVolumeClaim" {
		errs = append(errs, field.Invalid(fldPath, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if group != "" {
		errs = append(errs, invalidEach(fldPath.Child("apiGroup"), group, validation.IsDNS1123Subdomain(group))...)
	}
	return errs
}

// validatePVCUpdate: a claim's spec is fixed once made, except that the volume
// controller binds it once (volumeName) and a bound claim may grow.
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := validatePVC(pvc)
	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if old.Spec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	const betaClassAnnotation = corev1.BetaStorageClassAnnotation
	oldClass, oldHasAnnotation := old.Annotations[betaClassAnnotation]
	newAnnotationClass, newHasAnnotation := pvc.Annotations[betaClassAnnotation]
	switch {
	case oldHasAnnotation && old.Spec.StorageClassName == nil && newSpec.StorageClassName != nil &&
		*newSpec.StorageClassName == oldClass && (!newHasAnnotation || newAnnotationClass == oldClass):
		// Moving the class from the beta annotation to the field.
		newSpec.StorageClassName = nil
	default:
		if newAnnotationClass != oldClass {
			errs = append(errs, field.Invalid(field.NewPath("metadata").Child("annotations", betaClassAnnotation), newAnnotationClass, fieldImmutableErrorMsg))
		}
		if newSpec.StorageClassName != nil && old.Spec.StorageClassName == nil && (!oldHasAnnotation || *newSpec.StorageClassName == oldClass) {
			// A class may be set once on a claim made without one.
			newSpec.StorageClassName = oldSpec.StorageClassName
		}
	}
	if pvc.Status.Phase == corev1.ClaimBound && newSpec.Resources.Requests != nil {
		newSpec.Resources.Requests[corev1.ResourceStorage] = old.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	if !apiequality.Semantic.DeepEqual(newSpec, oldSpec) {
		diff := cmp.Diff(oldSpec, newSpec)
		errs = append(errs, field.Forbidden(field.NewPath("spec"), fmt.Sprintf("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff)))
	}
	// RecoverVolumeExpansionFailure is on in kube-apiserver v1.32: a claim may shrink
	// back toward, but not to or below, the capacity it has.
	oldSize, newSize := old.Spec.Resources.Requests[corev1.ResourceStorage], pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if statusSize := old.Status.Capacity[corev1.ResourceStorage]; newSize.Cmp(oldSize) < 0 && newSize.Cmp(statusSize) <= 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	return append(errs, apimachineryvalidation.ValidateImmutableField(pvc.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
}

func validatePVCStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(field.NewPath("Spec", "accessModes"), ""))
	}
	for _, name := range sortedKeys(pvc.Status.Capacity) {
		errs = append(errs, validateBasicResource(pvc.Status.Capacity[name], field.NewPath("status", "capacity").Key(string(name)))...)
	}
	return errs
}

var (
	storageClassReclaims = []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}
	bindingModes         = []string{string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}
)

const (
	maxProvisionerParameterSize = 256 * (1 << 10) // 256 kB
	maxProvisionerParameterLen  = 512
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(field.NewPath("provisioner"), ""))
	} else {
		errs = append(errs, validateQualifiedName(strings.ToLower(sc.Provisioner), field.NewPath("provisioner"))...)
	}
	errs = append(errs, validateProvisionerParameters(sc.Parameters, field.NewPath("parameters"))...)
	if sc.ReclaimPolicy != nil && *sc.ReclaimPolicy != "" && !slices.Contains(storageClassReclaims, string(*sc.ReclaimPolicy)) {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), sc.ReclaimPolicy, storageClassReclaims))
	}
	if sc.VolumeBindingMode == nil {
		errs = append(errs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else if !slices.Contains(bindingModes, string(*sc.VolumeBindingMode)) {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), sc.VolumeBindingMode, bindingModes))
	}
	var seen []map[string][]string
	for i, term := range sc.AllowedTopologies {
		p := field.NewPath("allowedTopologies").Index(i)
		exprs := map[string][]string{}
		for j, req := range term.MatchLabelExpressions {
			rp := p.Child("matchLabelExpressions").Index(j)
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), ""))
			}
			for k, v := range req.Values {
				if slices.Contains(req.Values[:k], v) {
					errs = append(errs, field.Duplicate(rp.Child("values").Index(k), v))
				}
			}
			errs = append(errs, metav1validation.ValidateLabelName(req.Key, rp.Child("key"))...)
			if _, dup := exprs[req.Key]; dup {
				errs = append(errs, field.Duplicate(rp.Child("key"), req.Key))
			}
			exprs[req.Key] = sortedUnique(req.Values)
		}
		for _, prev := range seen {
			if reflect.DeepEqual(prev, exprs) {
				errs = append(errs, field.Duplicate(p.Child("matchLabelExpressions"), ""))
			}
		}
		seen = append(seen, exprs)
	}
	return errs
}

func validateProvisionerParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	if len(params) > maxProvisionerParameterLen {
		return field.ErrorList{field.TooLong(fldPath, "", maxProvisionerParameterLen)}
	}
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(params) {
		if k == "" {
			errs = append(errs, field.Invalid(fldPath, k, "field can not be empty."))
		}
		size += len(k) + len(params[k])
	}
	if size > maxProvisionerParameterSize {
		errs = append(errs, field.TooLong(fldPath, "", maxProvisionerParameterSize))
	}
	return errs
}

func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	errs := validateStorageClass(sc)
	if !reflect.DeepEqual(old.Parameters, sc.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if ptr.Deref(sc.ReclaimPolicy, "") != ptr.Deref(old.ReclaimPolicy, "") {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	return append(errs, apimachineryvalidation.ValidateImmutableField(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}

// Annotations that make a StorageClass the cluster's default.
const (
	AnnotationDefaultStorageClass     = "storageclass.kubernetes.io/is-default-class"
	AnnotationBetaDefaultStorageClass = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefaultStorageClass says whether sc is marked as the cluster's default class.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[AnnotationDefaultStorageClass] == "true" || sc.Annotations[AnnotationBetaDefaultStorageClass] == "true"
}

// DefaultStorageClass is the class claims without one get, as kube-apiserver's
// DefaultStorageClass admission picks it: the newest of those marked default (by name
// on a tie), or nil.
func DefaultStorageClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var chosen *storagev1.StorageClass
	for _, sc := range classes {
		if !IsDefaultStorageClass(sc) {
			continue
		}
		if chosen == nil || sc.CreationTimestamp.After(chosen.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&chosen.CreationTimestamp) && sc.Name < chosen.Name) {
			chosen = sc
		}
	}
	return chosen
}

// The finalizers that keep a claim while a pod uses it, and a volume while it is
// bound (StorageObjectInUseProtection admission adds them; the volume protection
// controller removes them).
const (
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
)
