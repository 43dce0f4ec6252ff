output "user_ocid" {
  description = "AUDITFWD_OCI_USER (principal_type = \"user\")."
  value       = local.use_user ? oci_identity_user.auditfwd[0].id : null
}

output "api_key_fingerprint" {
  description = "AUDITFWD_OCI_FINGERPRINT, when api_public_key_pem was given."
  value       = length(oci_identity_api_key.auditfwd) > 0 ? oci_identity_api_key.auditfwd[0].fingerprint : null
}

output "group_ocid" {
  description = "The group (principal_type = \"user\")."
  value       = local.use_user ? oci_identity_group.auditfwd[0].id : null
}

output "dynamic_group_ocid" {
  description = "The dynamic group (principal_type = \"dynamic-group\")."
  value       = local.use_user ? null : oci_identity_dynamic_group.auditfwd[0].id
}

output "policy_ocid" {
  description = "The policy in the tenancy."
  value       = oci_identity_policy.auditfwd.id
}

output "policy_statements" {
  description = "The statements granted."
  value       = local.statements
}

output "auditfwd_environment" {
  description = "The OCI identity variables for auditfwd (the private key goes in AUDITFWD_OCI_KEY_KMS, AUDITFWD_OCI_KEY or AUDITFWD_OCI_KEY_FILE)."
  value = local.use_user ? {
    AUDITFWD_OCI_TENANCY     = var.tenancy_ocid
    AUDITFWD_OCI_USER        = oci_identity_user.auditfwd[0].id
    AUDITFWD_OCI_FINGERPRINT = length(oci_identity_api_key.auditfwd) > 0 ? oci_identity_api_key.auditfwd[0].fingerprint : ""
  } : null
}
