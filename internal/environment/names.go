package environment

import (
	"crypto/sha256"
	"encoding/hex"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// maxAppStreamName is AppStream's name limit (pattern ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$).
const maxAppStreamName = 101

// FleetName is the fleet's name: spec.appStream.fleet.name, or one derived
// from the namespace and name, so that a retried create finds the same fleet.
func FleetName(env *accessv1alpha1.RemoteAccessEnvironment) string {
	if n := env.Spec.AppStream.Fleet.Name; n != "" {
		return n
	}
	return derivedName(env)
}

// StackName is the stack's name, like FleetName.
func StackName(env *accessv1alpha1.RemoteAccessEnvironment) string {
	if n := env.Spec.AppStream.Stack.Name; n != "" {
		return n
	}
	return derivedName(env)
}

// derivedName is "gs-<namespace>_<name>": namespace and name are DNS names,
// which fit AppStream's alphabet and never contain "_", so two environments
// never derive the same name (with "-" a-b/c and a/b-c would). Shortened with
// a hash when too long.
func derivedName(env *accessv1alpha1.RemoteAccessEnvironment) string {
	n := "gs-" + env.Namespace + "_" + env.Name
	if len(n) <= maxAppStreamName {
		return n
	}
	sum := sha256.Sum256([]byte(env.Namespace + "/" + env.Name))
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	return n[:maxAppStreamName-len(suffix)] + suffix
}
