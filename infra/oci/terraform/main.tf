# What an OCI tenancy needs for auditfwd: a principal (a user with an API key in a group, or a
# dynamic group) and one policy in the tenancy (root compartment) letting it read audit events
# and list compartments everywhere, plus object access in one bucket when auditfwd keeps its
# checkpoint in OCI Object Storage.

locals {
  use_user   = var.principal_type == "user"
  use_bucket = var.oci_checkpoint_bucket != null

  # A policy in the root compartment names other compartments by OCID; the root itself is
  # "tenancy".
  bucket_location = (
    var.oci_checkpoint_compartment_ocid == null || var.oci_checkpoint_compartment_ocid == var.tenancy_ocid
    ? "tenancy"
    : "compartment id ${coalesce(var.oci_checkpoint_compartment_ocid, var.tenancy_ocid)}"
  )

  subject = local.use_user ? "group ${var.name}" : "dynamic-group ${var.name}"

  statements = concat(
    [
      # ListEvents in every compartment (audit events are read per compartment).
      "Allow ${local.subject} to read audit-events in tenancy",
      # ListCompartments over the whole tree, to find every compartment to poll.
      "Allow ${local.subject} to inspect compartments in tenancy",
    ],
    local.use_bucket ? [
      # Checkpoint objects (get, conditional put, delete, list) in that bucket only.
      "Allow ${local.subject} to manage objects in ${local.bucket_location} where target.bucket.name='${var.oci_checkpoint_bucket}'",
      "Allow ${local.subject} to read buckets in ${local.bucket_location} where target.bucket.name='${var.oci_checkpoint_bucket}'",
      # GetNamespace (e.g. `auditfwd check` confirming the namespace in the URL).
      "Allow ${local.subject} to read objectstorage-namespaces in tenancy",
    ] : [],
  )
}

resource "oci_identity_group" "auditfwd" {
  count          = local.use_user ? 1 : 0
  compartment_id = var.tenancy_ocid
  name           = var.name
  description    = "auditfwd: reads OCI audit events and forwards them to syslog"
  freeform_tags  = var.freeform_tags
}

resource "oci_identity_user" "auditfwd" {
  count          = local.use_user ? 1 : 0
  compartment_id = var.tenancy_ocid
  name           = var.name
  description    = "auditfwd service user (API key only)"
  email          = var.user_email
  freeform_tags  = var.freeform_tags
}

# A service user signs API requests and nothing else.
resource "oci_identity_user_capabilities_management" "auditfwd" {
  count                        = local.use_user ? 1 : 0
  user_id                      = oci_identity_user.auditfwd[0].id
  can_use_api_keys             = true
  can_use_auth_tokens          = false
  can_use_console_password     = false
  can_use_customer_secret_keys = false
  can_use_smtp_credentials     = false
}

resource "oci_identity_user_group_membership" "auditfwd" {
  count    = local.use_user ? 1 : 0
  group_id = oci_identity_group.auditfwd[0].id
  user_id  = oci_identity_user.auditfwd[0].id
}

resource "oci_identity_api_key" "auditfwd" {
  count     = local.use_user && var.api_public_key_pem != null ? 1 : 0
  user_id   = oci_identity_user.auditfwd[0].id
  key_value = var.api_public_key_pem
}

resource "oci_identity_dynamic_group" "auditfwd" {
  count          = local.use_user ? 0 : 1
  compartment_id = var.tenancy_ocid
  name           = var.name
  description    = "auditfwd: reads OCI audit events and forwards them to syslog"
  matching_rule  = var.dynamic_group_matching_rule
  freeform_tags  = var.freeform_tags

  lifecycle {
    precondition {
      condition     = var.dynamic_group_matching_rule != null
      error_message = "principal_type = \"dynamic-group\" needs dynamic_group_matching_rule."
    }
  }
}

resource "oci_identity_policy" "auditfwd" {
  compartment_id = var.tenancy_ocid
  name           = var.name
  description    = "auditfwd: read audit events and list compartments in the whole tenancy${local.use_bucket ? ", use its checkpoint bucket" : ""}"
  statements     = local.statements
  freeform_tags  = var.freeform_tags

  # The policy names the group: create the group first.
  depends_on = [oci_identity_group.auditfwd, oci_identity_dynamic_group.auditfwd]
}
