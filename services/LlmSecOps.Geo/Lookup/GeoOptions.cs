namespace LlmSecOps.Geo.Lookup;

/// <summary>Where the IP range database lives and whether the service may run without it.</summary>
public sealed class GeoOptions
{
    /// <summary>IPv4 range file. Default <c>/usr/share/tor/geoip</c> (Debian package <c>tor-geoipdb</c>).</summary>
    public string Ipv4Path { get; set; } = GeoIpDatabase.DefaultIpv4Path;

    /// <summary>IPv6 range file, or empty for none. Default <c>/usr/share/tor/geoip6</c>.</summary>
    public string Ipv6Path { get; set; } = GeoIpDatabase.DefaultIpv6Path;

    /// <summary>
    /// When true (the default), a missing or malformed file stops start-up; when false the service runs with
    /// countries unknown (events carry an empty <c>country</c> unless a trusted edge header provides one).
    /// </summary>
    public bool Required { get; set; } = true;

    /// <summary>Every problem at once, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Required && !File.Exists(Ipv4Path))
        {
            errors.Add($"Geo:Ipv4Path '{Ipv4Path}' does not exist. Install it with `apt-get install -y tor-geoipdb`, point Geo:Ipv4Path at a copy, or set Geo:Required=false to run with countries unknown.");
        }

        if (Required && Ipv6Path.Length > 0 && !File.Exists(Ipv6Path))
        {
            errors.Add($"Geo:Ipv6Path '{Ipv6Path}' does not exist. Install `tor-geoipdb`, point Geo:Ipv6Path at a copy, set it to an empty string for IPv4 only, or set Geo:Required=false.");
        }

        return errors;
    }

    /// <summary>Loads the database these options describe; <see cref="GeoIpDatabase.Empty"/> when optional and absent.</summary>
    public GeoIpDatabase Load()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join(" ", errors));
        }

        if (!File.Exists(Ipv4Path))
        {
            return GeoIpDatabase.Empty;
        }

        return GeoIpDatabase.Load(Ipv4Path, Ipv6Path.Length > 0 && File.Exists(Ipv6Path) ? Ipv6Path : null);
    }
}
