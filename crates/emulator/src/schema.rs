//! What properties each Graph entity type has, which of them Graph returns without `$select`,
//! which it refuses in collections, and what an unset property looks like on the wire.

/// How an unset property is rendered when it is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Scalars and complex values come back as `null`.
    Null,
    /// Collection-valued properties come back as `[]`, never `null`.
    EmptyList,
    /// `onPremisesExtensionAttributes` comes back as an object of fifteen `null`s.
    ExtensionAttributes,
}

/// Where a property may be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    /// In the default property set (no `$select`).
    ByDefault,
    /// Only when named in `$select`.
    OnSelect,
    /// Only on a single-object GET; selecting it on a collection gives 501
    /// (docs/graph-behaviour.md §7).
    SingleOnly,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Prop {
    pub name: &'static str,
    pub fill: Fill,
    pub returned: Returned,
}

const fn d(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::Null,
        returned: Returned::ByDefault,
    }
}
const fn dl(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::EmptyList,
        returned: Returned::ByDefault,
    }
}
const fn s(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::Null,
        returned: Returned::OnSelect,
    }
}
const fn sl(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::EmptyList,
        returned: Returned::OnSelect,
    }
}
const fn one(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::Null,
        returned: Returned::SingleOnly,
    }
}
const fn onel(name: &'static str) -> Prop {
    Prop {
        name,
        fill: Fill::EmptyList,
        returned: Returned::SingleOnly,
    }
}

/// The entity types the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Entity {
    User,
    Group,
    Device,
    ServicePrincipal,
    OrgContact,
    Domain,
    Organization,
}

impl Entity {
    /// The directory-object types that can be group members, in a fixed order.
    pub const MEMBER_TYPES: [Entity; 5] = [
        Entity::User,
        Entity::Group,
        Entity::Device,
        Entity::ServicePrincipal,
        Entity::OrgContact,
    ];

    /// `microsoft.graph.user`, as Graph names the type in error messages.
    pub fn type_name(self) -> &'static str {
        match self {
            Entity::User => "microsoft.graph.user",
            Entity::Group => "microsoft.graph.group",
            Entity::Device => "microsoft.graph.device",
            Entity::ServicePrincipal => "microsoft.graph.servicePrincipal",
            Entity::OrgContact => "microsoft.graph.orgContact",
            Entity::Domain => "microsoft.graph.domain",
            Entity::Organization => "microsoft.graph.organization",
        }
    }

    /// `#microsoft.graph.user`, the `@odata.type` annotation value.
    pub fn odata_type(self) -> String {
        format!("#{}", self.type_name())
    }

    /// The fixture section / entity-set name, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Group => "group",
            Entity::Device => "device",
            Entity::ServicePrincipal => "servicePrincipal",
            Entity::OrgContact => "orgContact",
            Entity::Domain => "domain",
            Entity::Organization => "organization",
        }
    }

    pub fn props(self) -> &'static [Prop] {
        match self {
            Entity::User => USER,
            Entity::Group => GROUP,
            Entity::Device => DEVICE,
            Entity::ServicePrincipal => SERVICE_PRINCIPAL,
            Entity::OrgContact => ORG_CONTACT,
            Entity::Domain => DOMAIN,
            Entity::Organization => ORGANIZATION,
        }
    }

    /// Exact (case-sensitive) lookup, as used when validating fixture keys.
    pub fn prop_exact(self, name: &str) -> Option<&'static Prop> {
        self.props().iter().find(|p| p.name == name)
    }

    /// Case-insensitive lookup, as Graph resolves `$select` names.
    pub fn prop(self, name: &str) -> Option<&'static Prop> {
        self.props()
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn default_props(self) -> impl Iterator<Item = &'static Prop> {
        self.props()
            .iter()
            .filter(|p| p.returned == Returned::ByDefault)
    }
}

/// docs/graph-behaviour.md §7: the default set is exactly the eleven `d`/`dl` entries below.
static USER: &[Prop] = &[
    dl("businessPhones"),
    d("displayName"),
    d("givenName"),
    d("id"),
    d("jobTitle"),
    d("mail"),
    d("mobilePhone"),
    d("officeLocation"),
    d("preferredLanguage"),
    d("surname"),
    d("userPrincipalName"),
    s("accountEnabled"),
    s("ageGroup"),
    sl("assignedLicenses"),
    sl("assignedPlans"),
    s("authorizationInfo"),
    s("city"),
    s("companyName"),
    s("consentProvidedForMinor"),
    s("country"),
    s("createdDateTime"),
    s("creationType"),
    s("deletedDateTime"),
    s("department"),
    s("employeeHireDate"),
    s("employeeId"),
    s("employeeLeaveDateTime"),
    s("employeeOrgData"),
    s("employeeType"),
    s("externalUserState"),
    s("externalUserStateChangeDateTime"),
    s("faxNumber"),
    sl("identities"),
    sl("imAddresses"),
    s("isResourceAccount"),
    s("lastPasswordChangeDateTime"),
    s("legalAgeGroupClassification"),
    sl("licenseAssignmentStates"),
    s("mailNickname"),
    s("onPremisesDistinguishedName"),
    s("onPremisesDomainName"),
    Prop {
        name: "onPremisesExtensionAttributes",
        fill: Fill::ExtensionAttributes,
        returned: Returned::OnSelect,
    },
    s("onPremisesImmutableId"),
    s("onPremisesLastSyncDateTime"),
    sl("onPremisesProvisioningErrors"),
    s("onPremisesSamAccountName"),
    s("onPremisesSecurityIdentifier"),
    s("onPremisesSyncEnabled"),
    s("onPremisesUserPrincipalName"),
    sl("otherMails"),
    s("passwordPolicies"),
    s("passwordProfile"),
    s("postalCode"),
    s("preferredDataLocation"),
    sl("provisionedPlans"),
    sl("proxyAddresses"),
    s("securityIdentifier"),
    sl("serviceProvisioningErrors"),
    s("showInAddressList"),
    s("signInSessionsValidFromDateTime"),
    s("state"),
    s("streetAddress"),
    s("usageLocation"),
    s("userType"),
    one("aboutMe"),
    one("birthday"),
    one("hireDate"),
    onel("interests"),
    one("mailboxSettings"),
    one("mySite"),
    onel("pastProjects"),
    one("preferredName"),
    onel("responsibilities"),
    onel("schools"),
    onel("skills"),
];

static GROUP: &[Prop] = &[
    d("classification"),
    d("createdDateTime"),
    dl("creationOptions"),
    d("deletedDateTime"),
    d("description"),
    d("displayName"),
    d("expirationDateTime"),
    dl("groupTypes"),
    d("id"),
    d("isAssignableToRole"),
    d("mail"),
    d("mailEnabled"),
    d("mailNickname"),
    d("membershipRule"),
    d("membershipRuleProcessingState"),
    d("onPremisesDomainName"),
    d("onPremisesLastSyncDateTime"),
    d("onPremisesNetBiosName"),
    dl("onPremisesProvisioningErrors"),
    d("onPremisesSamAccountName"),
    d("onPremisesSecurityIdentifier"),
    d("onPremisesSyncEnabled"),
    d("preferredDataLocation"),
    d("preferredLanguage"),
    dl("proxyAddresses"),
    d("renewedDateTime"),
    dl("resourceBehaviorOptions"),
    dl("resourceProvisioningOptions"),
    d("securityEnabled"),
    d("securityIdentifier"),
    dl("serviceProvisioningErrors"),
    d("theme"),
    d("uniqueName"),
    d("visibility"),
    sl("assignedLabels"),
    sl("assignedLicenses"),
    s("hasMembersWithLicenseErrors"),
    s("licenseProcessingState"),
    one("allowExternalSenders"),
    one("autoSubscribeNewMembers"),
    one("hideFromAddressLists"),
    one("hideFromOutlookClients"),
    one("isArchived"),
    one("isSubscribedByMail"),
    one("unseenCount"),
];

static DEVICE: &[Prop] = &[
    d("accountEnabled"),
    dl("alternativeSecurityIds"),
    d("approximateLastSignInDateTime"),
    d("complianceExpirationDateTime"),
    d("createdDateTime"),
    d("deletedDateTime"),
    d("deviceCategory"),
    d("deviceId"),
    d("deviceMetadata"),
    d("deviceOwnership"),
    d("deviceVersion"),
    d("displayName"),
    d("enrollmentProfileName"),
    d("enrollmentType"),
    d("id"),
    d("isCompliant"),
    d("isManaged"),
    d("isRooted"),
    d("managementType"),
    d("manufacturer"),
    d("mdmAppId"),
    d("model"),
    d("onPremisesLastSyncDateTime"),
    d("onPremisesSecurityIdentifier"),
    d("onPremisesSyncEnabled"),
    d("operatingSystem"),
    d("operatingSystemVersion"),
    dl("physicalIds"),
    d("profileType"),
    d("registrationDateTime"),
    dl("systemLabels"),
    d("trustType"),
];

static SERVICE_PRINCIPAL: &[Prop] = &[
    d("accountEnabled"),
    dl("addIns"),
    dl("alternativeNames"),
    d("appDescription"),
    d("appDisplayName"),
    d("appId"),
    d("applicationTemplateId"),
    d("appOwnerOrganizationId"),
    d("appRoleAssignmentRequired"),
    dl("appRoles"),
    d("createdDateTime"),
    d("deletedDateTime"),
    d("description"),
    d("disabledByMicrosoftStatus"),
    d("displayName"),
    d("homepage"),
    d("id"),
    d("info"),
    dl("keyCredentials"),
    d("loginUrl"),
    d("logoutUrl"),
    d("notes"),
    dl("notificationEmailAddresses"),
    dl("oauth2PermissionScopes"),
    dl("passwordCredentials"),
    d("preferredSingleSignOnMode"),
    d("preferredTokenSigningKeyThumbprint"),
    dl("replyUrls"),
    dl("resourceSpecificApplicationPermissions"),
    d("samlSingleSignOnSettings"),
    dl("servicePrincipalNames"),
    d("servicePrincipalType"),
    d("signInAudience"),
    dl("tags"),
    d("tokenEncryptionKeyId"),
    d("verifiedPublisher"),
];

static ORG_CONTACT: &[Prop] = &[
    dl("addresses"),
    d("companyName"),
    d("deletedDateTime"),
    d("department"),
    d("displayName"),
    d("givenName"),
    d("id"),
    d("jobTitle"),
    d("mail"),
    d("mailNickname"),
    d("onPremisesLastSyncDateTime"),
    dl("onPremisesProvisioningErrors"),
    d("onPremisesSyncEnabled"),
    dl("phones"),
    dl("proxyAddresses"),
    dl("serviceProvisioningErrors"),
    d("surname"),
];

static DOMAIN: &[Prop] = &[
    d("authenticationType"),
    d("availabilityStatus"),
    d("id"),
    d("isAdminManaged"),
    d("isDefault"),
    d("isInitial"),
    d("isRoot"),
    d("isVerified"),
    d("passwordNotificationWindowInDays"),
    d("passwordValidityPeriodInDays"),
    d("state"),
    dl("supportedServices"),
];

static ORGANIZATION: &[Prop] = &[
    dl("assignedPlans"),
    dl("businessPhones"),
    d("city"),
    d("country"),
    d("countryLetterCode"),
    d("createdDateTime"),
    d("defaultUsageLocation"),
    d("deletedDateTime"),
    d("directorySizeQuota"),
    d("displayName"),
    d("id"),
    dl("marketingNotificationEmails"),
    d("onPremisesLastSyncDateTime"),
    d("onPremisesSyncEnabled"),
    d("postalCode"),
    d("preferredLanguage"),
    d("privacyProfile"),
    dl("provisionedPlans"),
    dl("securityComplianceNotificationMails"),
    dl("securityComplianceNotificationPhones"),
    d("state"),
    d("street"),
    dl("technicalNotificationMails"),
    d("tenantType"),
    dl("verifiedDomains"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_user_set_is_the_documented_eleven() {
        let mut names: Vec<&str> = Entity::User.default_props().map(|p| p.name).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "businessPhones",
                "displayName",
                "givenName",
                "id",
                "jobTitle",
                "mail",
                "mobilePhone",
                "officeLocation",
                "preferredLanguage",
                "surname",
                "userPrincipalName"
            ]
        );
    }

    #[test]
    fn lookups_are_case_insensitive_only_when_asked() {
        assert_eq!(
            Entity::User.prop("DISPLAYNAME").map(|p| p.name),
            Some("displayName")
        );
        assert!(Entity::User.prop_exact("DisplayName").is_none());
        assert_eq!(
            Entity::User.prop("skills").map(|p| p.returned),
            Some(Returned::SingleOnly)
        );
    }

    #[test]
    fn no_schema_lists_a_property_twice() {
        for entity in [
            Entity::User,
            Entity::Group,
            Entity::Device,
            Entity::ServicePrincipal,
            Entity::OrgContact,
            Entity::Domain,
            Entity::Organization,
        ] {
            let mut names: Vec<String> = entity
                .props()
                .iter()
                .map(|p| p.name.to_ascii_lowercase())
                .collect();
            let before = names.len();
            names.sort();
            names.dedup();
            assert_eq!(before, names.len(), "{entity:?}");
            assert!(entity.prop_exact("id").is_some(), "{entity:?}");
        }
    }
}
