namespace LlmSecOps.Gateway.Admin;

/// <summary>Admin API roles (ARCHITECTURE.md): admin ⊃ operator ⊃ auditor; service is separate.</summary>
public enum AdminRole
{
    /// <summary>Read-only.</summary>
    Auditor,

    /// <summary>Day-to-day operations; includes auditor.</summary>
    Operator,

    /// <summary>Everything operators do plus tokens, reinstatement, erasure.</summary>
    Admin,

    /// <summary>What the anomaly scorer and key-leak watcher need (revoke, look-up, incidents); no human roles.</summary>
    Service,
}

/// <summary>Role names on the wire and the inclusion rule.</summary>
public static class AdminRoles
{
    /// <summary>Wire name of a role.</summary>
    public static string Name(AdminRole role) => role switch
    {
        AdminRole.Auditor => "auditor",
        AdminRole.Operator => "operator",
        AdminRole.Admin => "admin",
        _ => "service",
    };

    /// <summary>Parses a wire name.</summary>
    public static bool TryParse(string? text, out AdminRole role)
    {
        switch (text)
        {
            case "auditor": role = AdminRole.Auditor; return true;
            case "operator": role = AdminRole.Operator; return true;
            case "admin": role = AdminRole.Admin; return true;
            case "service": role = AdminRole.Service; return true;
            default: role = default; return false;
        }
    }

    /// <summary>
    /// True when a caller with <paramref name="actual"/> may use a route open to <paramref name="allowed"/>:
    /// listed exactly, or a human role above a listed human role. <c>service</c> includes nothing and is included by nothing.
    /// </summary>
    public static bool Satisfies(AdminRole actual, IReadOnlyCollection<AdminRole> allowed)
    {
        foreach (var role in allowed)
        {
            if (role == actual)
            {
                return true;
            }

            if (role != AdminRole.Service && actual != AdminRole.Service && actual > role)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Endpoint metadata: the roles a route is open to (a route without it is open to nobody).</summary>
public sealed class AllowedRolesMetadata(params AdminRole[] roles)
{
    public IReadOnlyCollection<AdminRole> Roles { get; } = roles;
}

/// <summary>The authenticated admin caller.</summary>
/// <param name="TokenId">Token id (<c>bootstrap</c> for the bootstrap token).</param>
/// <param name="Name">The token's name.</param>
/// <param name="Role">Its role.</param>
public sealed record AdminPrincipal(string TokenId, string Name, AdminRole Role)
{
    /// <summary>How the audit log names the actor.</summary>
    public string Actor => $"{AdminRoles.Name(Role)}:{Name}({TokenId})";
}
