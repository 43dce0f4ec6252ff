variable "tenancy_ocid" {
  description = "The tenancy OCID. Identity resources and the policy are created in the tenancy (root compartment), so the provider must point at the home region."
  type        = string

  validation {
    condition     = can(regex("^ocid1\\.tenancy\\.", var.tenancy_ocid))
    error_message = "tenancy_ocid must be a tenancy OCID (ocid1.tenancy...)."
  }
}

variable "principal_type" {
  description = "\"user\": a group, a user in it and (with api_public_key_pem) its API signing key, for auditfwd running outside OCI (AWS Lambda, a server). \"dynamic-group\": a dynamic group matching OCI resources instead (no user, no key)."
  type        = string
  default     = "user"

  validation {
    condition     = contains(["user", "dynamic-group"], var.principal_type)
    error_message = "principal_type must be \"user\" or \"dynamic-group\"."
  }
}

variable "name" {
  description = "Name of the group (or dynamic group), the user and the policy."
  type        = string
  default     = "auditfwd"
}

variable "user_email" {
  description = "Email of the user (tenancies with identity domains may require one). Null: none."
  type        = string
  default     = null
}

variable "api_public_key_pem" {
  description = "The public half of auditfwd's API signing key (PEM, e.g. the contents of ~/.oci/auditfwd_public.pem). Null: upload the key later (see README)."
  type        = string
  default     = null
}

variable "dynamic_group_matching_rule" {
  description = "Matching rule of the dynamic group (principal_type = \"dynamic-group\"), e.g. ALL {instance.compartment.id = 'ocid1.compartment.oc1..aaaa'}."
  type        = string
  default     = null
}

variable "oci_checkpoint_bucket" {
  description = "Name of the Object Storage bucket auditfwd keeps its checkpoint in (AUDITFWD_CHECKPOINT_URL=oci://namespace/bucket/prefix). Null: no Object Storage access (the checkpoint is in S3 or on disk)."
  type        = string
  default     = null
}

variable "oci_checkpoint_compartment_ocid" {
  description = "OCID of the compartment that holds oci_checkpoint_bucket. Null: the tenancy (root compartment)."
  type        = string
  default     = null
}

variable "freeform_tags" {
  description = "Freeform tags for every resource created."
  type        = map(string)
  default     = {}
}
