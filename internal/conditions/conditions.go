// Package conditions sets metav1.Conditions the way every gatestream
// controller does: observedGeneration on each condition, LastTransitionTime
// moved only when the status flips (so an unchanged pass writes nothing).
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Set records a condition and reports whether anything changed.
func Set(conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}

// True records a True condition.
func True(conds *[]metav1.Condition, generation int64, typ, reason, message string) bool {
	return Set(conds, generation, typ, metav1.ConditionTrue, reason, message)
}

// False records a False condition.
func False(conds *[]metav1.Condition, generation int64, typ, reason, message string) bool {
	return Set(conds, generation, typ, metav1.ConditionFalse, reason, message)
}

// Unknown records an Unknown condition.
func Unknown(conds *[]metav1.Condition, generation int64, typ, reason, message string) bool {
	return Set(conds, generation, typ, metav1.ConditionUnknown, reason, message)
}

// IsTrue reports whether the condition is present and True.
func IsTrue(conds []metav1.Condition, typ string) bool {
	return meta.IsStatusConditionTrue(conds, typ)
}

// IsCurrentAndTrue reports whether the condition is True and describes generation.
func IsCurrentAndTrue(conds []metav1.Condition, generation int64, typ string) bool {
	c := meta.FindStatusCondition(conds, typ)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// Get returns the condition of that type, or nil.
func Get(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}
